// Independent Ed25519Signature2020 issuer and verifier for the interop test
// of vc/delegation (TestInteropDigitalBazaar): Digital Bazaar's
// @digitalbazaar/vc stack with a static document loader that serves only
// the contexts embedded in vc/delegation and did:key documents computed
// locally. Nothing is fetched: any other URL is an error.
//
// Usage: node interop.mjs verify FILE     prints {"verified": bool, "error": "..."}
//        node interop.mjs issue SEEDHEX FILE   signs the unsigned credential in FILE, prints it
import fs from 'node:fs';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import * as vc from '@digitalbazaar/vc';
import {Ed25519Signature2020} from '@digitalbazaar/ed25519-signature-2020';
import {Ed25519VerificationKey2020} from '@digitalbazaar/ed25519-verification-key-2020';

const here = path.dirname(fileURLToPath(import.meta.url));
const pkg = path.resolve(here, '..', '..');
const read = f => JSON.parse(fs.readFileSync(path.join(pkg, f), 'utf8'));
const contexts = new Map([
  ['https://www.w3.org/2018/credentials/v1', read('credentials-v1.jsonld')],
  ['https://w3id.org/clawnet/delegation/v1', read('delegation-v1.jsonld')],
  ['https://www.w3.org/ns/credentials/status/v1', read('status-v1.jsonld')],
  ['https://w3id.org/security/suites/ed25519-2020/v1', read('ed25519-signature-2020-v1.jsonld')],
]);
const SUITE_CONTEXT = 'https://w3id.org/security/suites/ed25519-2020/v1';

// didKeyDocument returns the DID document of a did:key (Ed25519), or the
// verification method when url has the key's fragment.
function didKeyDocument(url) {
  const [did, fragment] = url.split('#');
  const mb = did.slice('did:key:'.length);
  if (!did.startsWith('did:key:z6Mk') || (fragment !== undefined && fragment !== mb)) {
    throw new Error(`not a did:key of this test: ${url}`);
  }
  const vmId = `${did}#${mb}`;
  const vm = {id: vmId, type: 'Ed25519VerificationKey2020', controller: did, publicKeyMultibase: mb};
  if (fragment !== undefined) {
    return {'@context': SUITE_CONTEXT, ...vm};
  }
  return {
    '@context': ['https://www.w3.org/ns/did/v1', SUITE_CONTEXT],
    id: did, verificationMethod: [vm], authentication: [vmId], assertionMethod: [vmId],
  };
}

const loaded = [];
async function documentLoader(url) {
  loaded.push(url);
  if (contexts.has(url)) {
    return {contextUrl: null, documentUrl: url, document: structuredClone(contexts.get(url))};
  }
  if (url.startsWith('did:key:')) {
    return {contextUrl: null, documentUrl: url, document: didKeyDocument(url)};
  }
  throw new Error(`document not available offline: ${url}`);
}

const [mode, ...args] = process.argv.slice(2);
try {
  if (mode === 'verify') {
    const credential = JSON.parse(fs.readFileSync(args[0], 'utf8'));
    // The credential is checked at its issuance date, so that the result
    // does not depend on the day the test runs.
    const now = new Date(credential.issuanceDate);
    const result = await vc.verifyCredential({
      credential, suite: new Ed25519Signature2020(), documentLoader, now,
      checkStatus: async () => ({verified: true}),
    });
    const error = result.verified ? '' : String(result.error?.errors?.[0]?.message ?? result.error?.message ?? JSON.stringify(result.results ?? result));
    console.log(JSON.stringify({verified: result.verified, error, loaded}));
  } else if (mode === 'issue') {
    const seed = Buffer.from(args[0], 'hex');
    const credential = JSON.parse(fs.readFileSync(args[1], 'utf8'));
    const key = await Ed25519VerificationKey2020.generate({seed});
    key.controller = credential.issuer;
    key.id = `${credential.issuer}#${key.fingerprint()}`;
    const suite = new Ed25519Signature2020({key, date: credential.issuanceDate});
    const signed = await vc.issue({credential, suite, documentLoader, now: credential.issuanceDate});
    console.log(JSON.stringify(signed));
  } else {
    throw new Error(`unknown mode ${mode}`);
  }
} catch (e) {
  console.log(JSON.stringify({verified: false, error: String(e && e.stack || e), loaded}));
  process.exitCode = 2;
}

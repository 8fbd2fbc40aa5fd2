package delegation

import (
	"context"
	"testing"
)

func TestSmoke(t *testing.T) {
	c := testCredential(t)
	priv, _, kid := keyDID(seedOwner)
	tok, err := IssueJWT(priv, kid, c)
	if err != nil {
		t.Fatal(err)
	}
	v, err := Verify(context.Background(), []byte(tok), testOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Log(tok, v.Digest)
	doc, err := IssueLDP(priv, kid, c, c.IssuanceDate)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(string(doc))
	v, err = Verify(context.Background(), doc, testOptions(t))
	if err != nil {
		t.Fatal(err)
	}
}

//go:build race

package sequencer

// raceEnabled: the race detector makes the big cross-check log slow to
// build, so race runs use a smaller one (the normal run checks the big one).
const raceEnabled = true

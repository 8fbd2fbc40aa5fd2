package main

import (
	"strings"
	"testing"
	"time"
)

func TestServeEscalationTimeoutFlag(t *testing.T) {
	for _, v := range []string{"0s", "-1m", "soon"} {
		code, _, serr := runExit(t, "serve", "--data", t.TempDir(), "--escalation-timeout", v)
		if code != exitUsage || !strings.Contains(serr, "escalation-timeout") {
			t.Errorf("--escalation-timeout %s: exit %d\n%s", v, code, serr)
		}
	}
	cfg, err := parseServeFlags(nil, new(strings.Builder))
	if err != nil || cfg.escalationTimeout != 30*time.Minute {
		t.Errorf("default %v %v", cfg.escalationTimeout, err)
	}
	for _, tc := range []struct{ timeout, want time.Duration }{
		{30 * time.Minute, 30 * time.Second}, {2 * time.Minute, 30 * time.Second}, {time.Minute, 15 * time.Second},
		{8 * time.Second, 2 * time.Second}, {4 * time.Second, time.Second}, {time.Second, time.Second}, {time.Millisecond, time.Second},
	} {
		if got := expiryInterval(tc.timeout); got != tc.want {
			t.Errorf("expiryInterval(%v) = %v, want %v", tc.timeout, got, tc.want)
		}
	}
}

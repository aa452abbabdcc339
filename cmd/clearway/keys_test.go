package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/clearway/clearway/gateway/devenv"
)

func TestKeysCreateListRevoke(t *testing.T) {
	env := devenv.ForTest(t, 4)
	t.Setenv("CLEARWAY_REDIS_ADDR", env.RedisAddr)
	t.Setenv("CLEARWAY_REDIS_DB", "4")
	var out, errOut bytes.Buffer
	if code := keys([]string{"create", "--role", "broker", "--tenant", "3502980XYZ"}, &out, &errOut); code != 0 {
		t.Fatalf("create: %d %s", code, errOut.String())
	}
	secret := strings.TrimSpace(out.String())
	if !strings.HasPrefix(secret, "cw_") || len(secret) < 40 {
		t.Fatalf("key %q", secret)
	}
	out.Reset()
	if code := keys([]string{"list"}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "broker") || strings.Contains(out.String(), secret) {
		t.Fatalf("list: %d %q", code, out.String())
	}
	id := strings.Fields(strings.Split(out.String(), "\n")[1])[0]
	if code := keys([]string{"revoke", id}, &out, &errOut); code != 0 {
		t.Fatalf("revoke: %s", errOut.String())
	}
	out.Reset()
	keys([]string{"list"}, &out, &errOut)
	if strings.Contains(out.String(), id) {
		t.Fatal("revoked key still listed")
	}
	if code := keys([]string{"create", "--role", "king", "--tenant", "x"}, &out, &errOut); code != 1 {
		t.Fatalf("bad role: exit %d", code)
	}
}

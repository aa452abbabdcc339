package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/clearway/clearway/customs/sign"
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

func TestKeysDevCertWritesAKeyPairThatSignsAndVerifiesWithoutRedis(t *testing.T) {
	t.Setenv("CLEARWAY_REDIS_ADDR", "")
	msg, err := os.ReadFile("../../customs/sign/testdata/CEB603Message.xml")
	if err != nil {
		t.Fatal(err)
	}
	for flagAlg, alg := range map[string]sign.Algorithm{"sm2": sign.SM2SM3, "rsa": sign.RSASHA1} {
		t.Run(flagAlg, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "certs")
			var out, errOut bytes.Buffer
			if code := keys([]string{"dev-cert", "--alg", flagAlg, "--out", dir, "--name", "Jinjiang Test Broker"}, &out, &errOut); code != 0 {
				t.Fatalf("exit %d: %s", code, errOut.String())
			}
			env := map[string]string{}
			for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
				k, v, _ := strings.Cut(line, "=")
				env[k] = v
			}
			keyFile, certFile := filepath.Join(dir, "clearway-dev.key"), filepath.Join(dir, "clearway-dev.crt")
			if env["CLEARWAY_SIGN_ALG"] != string(alg) || env["CLEARWAY_SIGN_KEY"] != keyFile || env["CLEARWAY_SIGN_CERT"] != certFile {
				t.Fatalf("printed %q, want the settings for %s, %s and %s", out.String(), alg, keyFile, certFile)
			}
			if fi, err := os.Stat(keyFile); err != nil || fi.Mode().Perm() != 0o600 {
				t.Fatalf("key file: %v, mode %v, want 0600", err, fi.Mode().Perm())
			}
			if !strings.Contains(errOut.String(), "DEVELOPMENT ONLY") {
				t.Errorf("stderr does not say the certificate is for development: %q", errOut.String())
			}

			s, err := sign.Load(sign.Algorithm(env["CLEARWAY_SIGN_ALG"]), env["CLEARWAY_SIGN_KEY"], env["CLEARWAY_SIGN_CERT"])
			if err != nil {
				t.Fatal(err)
			}
			if c := s.Certificate(); c.Subject.CommonName != "Jinjiang Test Broker" || !slices.Contains(c.Subject.Organization, sign.DevOrganization) {
				t.Errorf("certificate subject %s, want CN=Jinjiang Test Broker marked %q", c.Subject, sign.DevOrganization)
			}
			signed, err := s.Sign(msg)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := sign.Verify(signed); err != nil {
				t.Fatal(err)
			}

			// A second run must not replace the key in use.
			errOut.Reset()
			if code := keys([]string{"dev-cert", "--alg", flagAlg, "--out", dir}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "exists") {
				t.Errorf("second run into %s: exit %d %q, want 1 and a refusal", dir, code, errOut.String())
			}
		})
	}
}

func TestKeysDevCertRejectsUnknownAlgorithm(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := keys([]string{"dev-cert", "--alg", "ecdsa", "--out", t.TempDir()}, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "dev-cert [--alg sm2|rsa]") {
		t.Fatalf("exit %d %q, want 2 and the usage", code, errOut.String())
	}
}

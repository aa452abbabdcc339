package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/clearway/clearway/cmd/internal/stack"
	"github.com/clearway/clearway/customs/sign"
	"github.com/clearway/clearway/gateway/store"
)

const keysUsage = `usage: clearway keys create --role ROLE --tenant TENANT
       clearway keys list
       clearway keys revoke ID
       clearway keys dev-cert [--alg sm2|rsa] [--out DIR] [--name CN]

create, list and revoke manage API keys in the Redis at CLEARWAY_REDIS_ADDR
(CLEARWAY_REDIS_DB). Only the SHA-256 of a key is stored; create prints the
key once. Roles: courier, broker, airport, admin (an admin's tenant may be *).

dev-cert writes DIR/clearway-dev.key and DIR/clearway-dev.crt, a self-signed
certificate for signing CEB messages in development (customs accepts only
e-port certificates), and prints the CLEARWAY_SIGN_* settings that use them.
It needs no Redis.
`

// keys runs `clearway keys …` and returns the exit code.
func keys(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, keysUsage)
		return 2
	}
	if args[0] == "dev-cert" {
		return devCert(args[1:], stdout, stderr)
	}
	cfg, err := stack.FromEnv()
	if err != nil {
		fmt.Fprintln(stderr, "clearway keys:", err)
		return 2
	}
	if cfg.RedisAddr == "" {
		fmt.Fprintln(stderr, "clearway keys: set CLEARWAY_REDIS_ADDR to the Redis the gateways use")
		return 2
	}
	rdb := cfg.NewRedis()
	defer rdb.Close()
	st := store.New(rdb)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	switch args[0] {
	case "create":
		fs := flag.NewFlagSet("keys create", flag.ContinueOnError)
		fs.SetOutput(stderr)
		role := fs.String("role", "", "courier, broker, airport or admin")
		tenant := fs.String("tenant", "", "the courier's or broker's code; * for an all-tenant admin")
		if err := fs.Parse(args[1:]); err != nil {
			return 2
		}
		secret, k, err := st.CreateKey(ctx, *role, *tenant)
		if err != nil {
			fmt.Fprintln(stderr, "clearway keys create:", err)
			return 1
		}
		fmt.Fprintf(stderr, "created key %s (%s, tenant %s); it is shown only now:\n", k.ID, k.Role, k.Tenant)
		fmt.Fprintln(stdout, secret)
	case "list":
		ks, err := st.ListKeys(ctx)
		if err != nil {
			fmt.Fprintln(stderr, "clearway keys list:", err)
			return 1
		}
		w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "ID\tROLE\tTENANT\tCREATED")
		for _, k := range ks {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", k.ID, k.Role, k.Tenant, k.CreatedAt.Format(time.RFC3339))
		}
		w.Flush()
	case "revoke":
		if len(args) != 2 {
			fmt.Fprint(stderr, keysUsage)
			return 2
		}
		if err := st.RevokeKey(ctx, args[1]); err != nil {
			fmt.Fprintln(stderr, "clearway keys revoke:", err)
			return 1
		}
		fmt.Fprintf(stderr, "revoked %s; gateways refuse it within a second\n", args[1])
	default:
		fmt.Fprint(stderr, keysUsage)
		return 2
	}
	return 0
}

// devCert runs `clearway keys dev-cert`: a development signing key and its
// self-signed certificate, so that signing works on a laptop.
func devCert(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("keys dev-cert", flag.ContinueOnError)
	fs.SetOutput(stderr)
	algName := fs.String("alg", "sm2", "sm2 (SM2 with SM3, preferred by customs) or rsa (RSA with SHA-1)")
	dir := fs.String("out", ".", "directory to write clearway-dev.key and clearway-dev.crt to")
	name := fs.String("name", "Clearway development", "the certificate's common name")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	alg, ok := map[string]sign.Algorithm{"sm2": sign.SM2SM3, "rsa": sign.RSASHA1}[*algName]
	if !ok || fs.NArg() > 0 {
		fmt.Fprint(stderr, keysUsage)
		return 2
	}
	keyPEM, certPEM, err := sign.DevCert(alg, *name)
	if err != nil {
		fmt.Fprintln(stderr, "clearway keys dev-cert:", err)
		return 1
	}
	out, err := filepath.Abs(*dir)
	if err == nil {
		err = os.MkdirAll(out, 0o755)
	}
	keyFile, certFile := filepath.Join(out, "clearway-dev.key"), filepath.Join(out, "clearway-dev.crt")
	if err == nil {
		err = writeNew(keyFile, keyPEM, 0o600)
	}
	if err == nil {
		err = writeNew(certFile, certPEM, 0o644)
	}
	if err != nil {
		fmt.Fprintln(stderr, "clearway keys dev-cert:", err)
		return 1
	}
	fmt.Fprintf(stderr, "wrote %s and %s: self-signed %s, valid for a year, FOR DEVELOPMENT ONLY.\nSign with:\n", keyFile, certFile, alg)
	fmt.Fprintf(stdout, "CLEARWAY_SIGN_ALG=%s\nCLEARWAY_SIGN_KEY=%s\nCLEARWAY_SIGN_CERT=%s\n", alg, keyFile, certFile)
	return 0
}

// writeNew creates file with perm, refusing to replace one: a key someone
// uses must not vanish under them.
func writeNew(file string, b []byte, perm os.FileMode) error {
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("%s exists; remove it or choose another --out", file)
	}
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

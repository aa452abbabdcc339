package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/clearway/clearway/cmd/internal/stack"
	"github.com/clearway/clearway/gateway/store"
)

const keysUsage = `usage: clearway keys create --role ROLE --tenant TENANT
       clearway keys list
       clearway keys revoke ID

Manages API keys in the Redis at CLEARWAY_REDIS_ADDR (CLEARWAY_REDIS_DB).
Only the SHA-256 of a key is stored; create prints the key once.
Roles: courier, broker, airport, admin (an admin's tenant may be *).
`

// keys runs `clearway keys …` and returns the exit code.
func keys(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, keysUsage)
		return 2
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

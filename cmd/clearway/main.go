// Command clearway is the one binary for laptops: `clearway dev` runs the
// gateway, tracker, adapter and customs simulator in one process, on
// embedded Kafka and Redis unless CLEARWAY_KAFKA_BROKERS and
// CLEARWAY_REDIS_ADDR point at real ones.
package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/clearway/clearway/cmd/internal/stack"
)

const usage = `usage: clearway <command>

commands:
  dev      run gateway, tracker, customs adapter and simulator in one process
  serve    run some parts on real Kafka and Redis: clearway serve gateway,tracker,adapter
  keys     create, list and revoke API keys (in Redis, stored as hashes)
  rebuild  replay Kafka into an empty Redis
  topics   ensure: create the Kafka topics with their settings
  bench    measure throughput, latency and cost on real Kafka and Redis
  customs-sim
           serve the customs simulator over HTTP (CLEARWAY_SIM_ADDR), for
           adapters with CLEARWAY_TRANSPORT=http CLEARWAY_CUSTOMS_URL=http://…
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	switch os.Args[1] {
	case "dev":
		embedded := os.Getenv("CLEARWAY_KAFKA_BROKERS") == "" || os.Getenv("CLEARWAY_REDIS_ADDR") == ""
		os.Exit(stack.Main("clearway-dev", stack.All, true, func(s *stack.Stack) { welcome(s, embedded) }))
	case "topics":
		os.Exit(topics(os.Args[2:], os.Stdout, os.Stderr))
	case "serve":
		os.Exit(serve(os.Args[2:]))
	case "customs-sim":
		os.Exit(customsSim())
	case "rebuild":
		os.Exit(rebuild(os.Args[2:], os.Stderr))
	case "keys":
		os.Exit(keys(os.Args[2:], os.Stdout, os.Stderr))
	case "bench":
		os.Exit(runBench(os.Args[2:], os.Stdout, os.Stderr))
	case "help", "-h", "--help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "clearway: unknown command %q\n%s", os.Args[1], usage)
		os.Exit(2)
	}
}

func welcome(s *stack.Stack, embedded bool) {
	var b strings.Builder
	fmt.Fprintf(&b, "\nClearway is running at %s\n\n", s.URL)
	if embedded {
		b.WriteString("  WARNING: embedded Kafka and/or Redis: nothing is kept after this process exits.\n")
		b.WriteString("  Set CLEARWAY_KAFKA_BROKERS and CLEARWAY_REDIS_ADDR to use real servers.\n\n")
	}
	if os.Getenv("CLEARWAY_API_KEYS") == "" {
		b.WriteString("  Demo API keys (X-API-Key):\n")
		for _, k := range strings.Split(stack.DevKeys, ",") {
			p := strings.SplitN(k, ":", 3)
			fmt.Fprintf(&b, "    %-8s tenant %-11s %s\n", p[0], p[1], p[2])
		}
	}
	fmt.Fprintf(&b, "\n  Post the example manifest:\n    curl -s -H 'X-API-Key: dev-courier-key' -H 'Content-Type: application/json' \\\n      --data @schemas/examples/manifest.json %s/v1/manifests\n", s.URL)
	fmt.Fprintf(&b, "  Then follow a parcel:\n    curl -s -H 'X-API-Key: dev-courier-key' '%s/v1/declarations?logisticsNo=QZX100000000001'\n\n", s.URL)
	fmt.Fprint(os.Stderr, b.String())
}

// serve runs the named parts (gateway, tracker, adapter) in this process.
func serve(args []string) int {
	var parts stack.Parts
	if len(args) != 1 {
		fmt.Fprintln(os.Stderr, "usage: clearway serve gateway,tracker,adapter (any of them)")
		return 2
	}
	for _, p := range strings.Split(args[0], ",") {
		switch p {
		case "gateway":
			parts.Gateway = true
		case "tracker":
			parts.Tracker = true
		case "adapter":
			parts.Adapter = true
		default:
			fmt.Fprintf(os.Stderr, "clearway serve: unknown part %q (gateway, tracker, adapter)\n", p)
			return 2
		}
	}
	return stack.Main("clearway-"+strings.ReplaceAll(args[0], ",", "-"), parts, false, nil)
}

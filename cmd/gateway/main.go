// Command gateway is Clearway's HTTP service: manifest intake and status
// reads, with the tracker that applies receipts to Redis.
package main

import (
	"os"

	"github.com/clearway/clearway/cmd/internal/stack"
)

func main() {
	os.Exit(stack.Main("gateway", stack.Parts{Gateway: true, Tracker: true}, false, nil))
}

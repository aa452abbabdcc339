// Command customs-adapter declares accepted parcels to customs and brings
// the receipts back, through the configured transport.
package main

import (
	"os"

	"github.com/clearway/clearway/cmd/internal/stack"
)

func main() {
	os.Exit(stack.Main("customs-adapter", stack.Parts{Adapter: true}, false, nil))
}

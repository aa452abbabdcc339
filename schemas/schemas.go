// Package schemas holds Clearway's contracts: the OpenAPI description of the
// HTTP API and the JSON Schemas of every Kafka payload. Tests validate real
// payloads and responses against them.
package schemas

import (
	"bytes"
	"embed"
	"fmt"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

//go:embed openapi.yaml *.schema.json examples/*.json
var Files embed.FS

// Payload schemas by topic suffix.
const (
	Declaration  = "declaration.schema.json"
	ReceiptEvent = "receipt-event.schema.json"
	StatusEvent  = "status-event.schema.json"
)

// Compile loads one of the JSON Schemas.
func Compile(name string) (*jsonschema.Schema, error) {
	b, err := Files.ReadFile(name)
	if err != nil {
		return nil, err
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("schemas: %s: %w", name, err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource(name, doc); err != nil {
		return nil, err
	}
	return c.Compile(name)
}

// Validate checks a JSON payload against a compiled schema.
func Validate(s *jsonschema.Schema, payload []byte) error {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(payload))
	if err != nil {
		return fmt.Errorf("schemas: payload is not JSON: %w", err)
	}
	return s.Validate(v)
}

package api_test

import (
	"context"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/clearway/clearway/gateway/api"
	"github.com/clearway/clearway/schemas"
	"github.com/prometheus/client_golang/prometheus"
	"gopkg.in/yaml.v3"
)

func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	b, err := schemas.Files.ReadFile("openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	keys, _ := api.ParseKeys("admin:*:test-admin-key")
	srv := api.New(api.Config{Addr: "x", MaxBodyBytes: 1 << 20, RequestTimeout: time.Second, Keys: keys},
		api.Deps{Ready: func(context.Context) error { return nil }, Registry: prometheus.NewRegistry(), Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	param := regexp.MustCompile(`:([A-Za-z]+)`)
	documented := 0
	for _, r := range srv.Routes() {
		if r.Method == "echo_route_not_found" {
			continue // Echo's own catch-all for a group
		}
		path := param.ReplaceAllString(r.Path, "{$1}")
		if _, ok := doc.Paths[path][strings.ToLower(r.Method)]; !ok {
			t.Errorf("%s %s is served but not in openapi.yaml", r.Method, path)
		}
		documented++
	}
	if documented < 8 {
		t.Fatalf("only %d routes found", documented)
	}
}

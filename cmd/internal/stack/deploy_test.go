package stack

import (
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/clearway/clearway/customs/sim"
	"gopkg.in/yaml.v3"
)

// container is what a deploy file says of one container.
type container struct {
	file, name, image string
	command           []string
	env               []string // variable names it sets
	ports             map[string]int
	probes            map[string]string // probe path → port name or number
}

// The files in deployments/ name only what exists: every variable is one
// FromEnv reads, every image is the one the Dockerfile builds, every
// command a binary it builds with parts that exist, every port the one the
// configuration listens on, every probe path one the process answers.
func TestDeployFilesNameOnlyWhatTheCodeHas(t *testing.T) {
	configSource, err := os.ReadFile("config.go")
	if err != nil {
		t.Fatal(err)
	}
	dockerfile, err := os.ReadFile("../../../deployments/Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob("../../../deployments/k8s/*.yaml")
	files = append(files, "../../../deployments/docker-compose.yml")
	configMap := map[string]string{}
	var containers []container
	for _, f := range files {
		cs, cm := readDeployFile(t, f)
		containers = append(containers, cs...)
		for k, v := range cm {
			configMap[k] = v
		}
	}
	if len(containers) < 5 || len(configMap) == 0 {
		t.Fatalf("read %d containers and %d settings from %v", len(containers), len(configMap), files)
	}
	variable := regexp.MustCompile(`^CLEARWAY_[A-Z_]+$`)
	for name := range configMap {
		if !variable.MatchString(name) || !strings.Contains(string(configSource), `"`+name+`"`) {
			t.Errorf("the ConfigMap sets %s, which the configuration does not read", name)
		}
	}
	for _, c := range containers {
		for _, name := range c.env {
			if strings.HasPrefix(name, "CLEARWAY_") && !strings.Contains(string(configSource), `"`+name+`"`) {
				t.Errorf("%s: %s sets %s, which the configuration does not read", c.file, c.name, name)
			}
		}
		if c.image != "" && !strings.HasPrefix(c.image, "clearway:") && !strings.Contains(c.file, "compose") {
			t.Errorf("%s: %s runs image %s, not the one deployments/Dockerfile builds", c.file, c.name, c.image)
		}
		if len(c.command) > 0 {
			binary := strings.TrimPrefix(c.command[0], "/")
			if !strings.Contains(string(dockerfile), "./cmd/"+binary) {
				t.Errorf("%s: %s runs /%s, which the Dockerfile does not build", c.file, c.name, binary)
			}
			if binary == "clearway" && (len(c.command) != 3 || c.command[1] != "serve") {
				t.Errorf("%s: %s runs %v, want /clearway serve <parts>", c.file, c.name, c.command)
			}
			if binary == "clearway" {
				for _, part := range strings.Split(c.command[2], ",") {
					if !slices.Contains([]string{"gateway", "tracker", "adapter"}, part) {
						t.Errorf("%s: %s serves part %q, which does not exist", c.file, c.name, part)
					}
				}
			}
		}
		for name, port := range c.ports {
			want := map[string]string{"http": "CLEARWAY_HTTP_ADDR", "metrics": "CLEARWAY_METRICS_ADDR"}[name]
			if want == "" {
				continue
			}
			_, p, _ := net.SplitHostPort(configMap[want])
			if p != strconv.Itoa(port) {
				t.Errorf("%s: %s exposes %s on %d, but %s listens on %q", c.file, c.name, name, port, want, configMap[want])
			}
		}
	}

	// Probe paths answer on a running gateway and on a running tracker.
	cfg, _ := testConfig(t, sim.Config{Seed: 1})
	g, stopGateway := startParts(t, cfg, Parts{Gateway: true})
	defer stopGateway()
	tr, stopTracker := startParts(t, cfg, Parts{Tracker: true})
	defer stopTracker()
	for _, c := range containers {
		base := tr.MetricsURL
		if slices.Contains(c.command, "gateway") {
			base = g.URL
		}
		for path := range c.probes {
			resp, err := http.Get(base + path)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 && resp.StatusCode != 503 {
				t.Errorf("%s: %s probes %s, which answers %d", c.file, c.name, path, resp.StatusCode)
			}
		}
	}
}

// readDeployFile reads the containers and ConfigMap settings of a
// Kubernetes or compose file.
func readDeployFile(t *testing.T, file string) ([]container, map[string]string) {
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	var out []container
	settings := map[string]string{}
	for {
		var doc map[string]any
		if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
			return out, settings
		} else if err != nil {
			t.Fatalf("%s does not parse: %v", file, err)
		}
		if services, ok := doc["services"].(map[string]any); ok { // compose
			for name, raw := range services {
				s, _ := raw.(map[string]any)
				c := container{file: file, name: name, image: str(s["image"]), command: strs(s["entrypoint"])}
				env, _ := s["environment"].(map[string]any)
				for k := range env {
					c.env = append(c.env, k)
				}
				out = append(out, c)
			}
			continue
		}
		if doc["kind"] == "ConfigMap" {
			data, _ := doc["data"].(map[string]any)
			for k, v := range data {
				settings[k] = str(v)
			}
		}
		spec := dig(doc, "spec", "template", "spec")
		cs, _ := spec["containers"].([]any)
		for _, raw := range cs {
			m, _ := raw.(map[string]any)
			c := container{file: file, name: str(m["name"]), image: str(m["image"]), command: strs(m["command"]),
				ports: map[string]int{}, probes: map[string]string{}}
			ports, _ := m["ports"].([]any)
			for _, p := range ports {
				pm, _ := p.(map[string]any)
				n, _ := pm["containerPort"].(int)
				c.ports[str(pm["name"])] = n
			}
			for _, probe := range []string{"readinessProbe", "livenessProbe"} {
				if g := dig(m, probe, "httpGet"); g != nil {
					c.probes[str(g["path"])] = str(g["port"])
				}
			}
			out = append(out, c)
		}
	}
}

func dig(m map[string]any, path ...string) map[string]any {
	for _, p := range path {
		next, ok := m[p].(map[string]any)
		if !ok {
			return nil
		}
		m = next
	}
	return m
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func strs(v any) []string {
	vs, _ := v.([]any)
	out := make([]string, 0, len(vs))
	for _, x := range vs {
		out = append(out, str(x))
	}
	return out
}

// Compose runs a three-broker KRaft cluster whose quorum and the services'
// broker list name only services it has, and every part of Clearway.
func TestComposeRunsThreeKafkaBrokersAndEveryPart(t *testing.T) {
	b, err := os.ReadFile("../../../deployments/docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			Entrypoint  []string          `yaml:"entrypoint"`
			Environment map[string]string `yaml:"environment"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(b, &compose); err != nil {
		t.Fatal(err)
	}
	var voters, brokers []string
	parts := map[string]bool{}
	for name, s := range compose.Services {
		if q := s.Environment["KAFKA_CONTROLLER_QUORUM_VOTERS"]; q != "" {
			voters = append(voters, name)
			if s.Environment["KAFKA_PROCESS_ROLES"] != "broker,controller" || !strings.Contains(q, "@"+name+":9093") {
				t.Errorf("%s: roles %q, quorum %q", name, s.Environment["KAFKA_PROCESS_ROLES"], q)
			}
		}
		if list := s.Environment["CLEARWAY_KAFKA_BROKERS"]; list != "" {
			brokers = split(list)
		}
		switch {
		case slices.Equal(s.Entrypoint, []string{"/customs-adapter"}):
			parts["adapter"] = true
		case len(s.Entrypoint) == 3 && s.Entrypoint[1] == "serve":
			parts[s.Entrypoint[2]] = true
		}
	}
	if len(voters) != 3 || len(brokers) != 3 {
		t.Fatalf("%d KRaft nodes %v, services given brokers %v", len(voters), voters, brokers)
	}
	for _, addr := range brokers {
		host, _, _ := net.SplitHostPort(addr)
		if !slices.Contains(voters, host) {
			t.Errorf("CLEARWAY_KAFKA_BROKERS names %s, which is not a broker service", host)
		}
	}
	if !parts["gateway"] || !parts["tracker"] || !parts["adapter"] {
		t.Errorf("compose runs parts %v, want gateway, tracker and adapter", parts)
	}
}

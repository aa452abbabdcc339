package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// Keys the benchmark's gateway accepts.
const (
	courierKey = "bench-courier-key"
	adminKey   = "bench-admin-key"
	benchKeys  = "courier:3502680EMS:" + courierKey + ",admin:*:" + adminKey
)

// system is the running processes: the customs simulator, the gateway,
// the tracker and the adapter, each on its own addresses.
type system struct {
	procs      []*proc
	gatewayURL string
	prefix     string // Kafka topic prefix of this run
}

type proc struct {
	*process
	pprof string // profile address; empty for the simulator
}

func (s *system) stop() {
	for i := len(s.procs) - 1; i >= 0; i-- {
		s.procs[i].stop()
	}
}

// startSystem starts the processes on the configured Kafka and Redis, on
// topics of their own, with the simulator answering at once.
func startSystem(ctx context.Context, o Options) (*system, error) {
	cfg := o.Config
	s := &system{prefix: fmt.Sprintf("bench-%d.", time.Now().Unix())}
	base := []string{
		"CLEARWAY_KAFKA_BROKERS=" + strings.Join(cfg.Kafka.Brokers, ","),
		"CLEARWAY_KAFKA_PARTITIONS=" + strconv.Itoa(cfg.Kafka.Partitions),
		"CLEARWAY_KAFKA_REPLICATION=" + strconv.Itoa(cfg.Kafka.ReplicationFactor),
		"CLEARWAY_KAFKA_TOPIC_PREFIX=" + s.prefix,
		"CLEARWAY_REDIS_ADDR=" + cfg.RedisAddr,
		"CLEARWAY_REDIS_DB=" + strconv.Itoa(cfg.RedisDB),
		"CLEARWAY_REDIS_CLUSTER=" + strconv.FormatBool(cfg.RedisCluster),
		"CLEARWAY_API_KEYS=" + benchKeys,
		"CLEARWAY_RATE_LIMIT=0",
		"CLEARWAY_LOG_LEVEL=warn",
		"CLEARWAY_SIM_STEP_DELAY=0s",
		"CLEARWAY_SIM_INSPECTION_RATE=0", "CLEARWAY_SIM_REJECTION_RATE=0", "CLEARWAY_SIM_DETENTION_RATE=0",
	}
	for _, kv := range os.Environ() { // PATH, HOME and the like; no other Clearway settings
		if !strings.HasPrefix(kv, "CLEARWAY_") {
			base = append(base, kv)
		}
	}
	addr := func() string {
		a, err := freeAddr()
		if err != nil {
			panic(err) // loopback without a free port: nothing can run
		}
		return a
	}
	simAddr, httpAddr := addr(), addr()
	s.gatewayURL = "http://" + httpAddr
	specs := []struct {
		name  string
		env   []string
		ready string
		args  []string
	}{
		{"customs-sim", []string{"CLEARWAY_SIM_ADDR=" + simAddr}, "http://" + simAddr + "/sim/new-declarations", []string{"customs-sim"}},
		{"gateway", []string{"CLEARWAY_HTTP_ADDR=" + httpAddr}, s.gatewayURL + "/readyz", []string{"serve", "gateway"}},
		{"tracker", nil, "", []string{"serve", "tracker"}},
		{"adapter", []string{"CLEARWAY_TRANSPORT=http", "CLEARWAY_CUSTOMS_URL=http://" + simAddr}, "", []string{"serve", "adapter"}},
	}
	for _, spec := range specs {
		env := append(append([]string{}, base...), spec.env...)
		p := &proc{}
		if spec.name != "customs-sim" {
			p.pprof = addr()
			env = append(env, "CLEARWAY_PPROF_ADDR="+p.pprof)
		}
		if spec.ready == "" {
			metrics := addr()
			env = append(env, "CLEARWAY_METRICS_ADDR="+metrics)
			spec.ready = "http://" + metrics + "/readyz"
		}
		var err error
		p.process, err = startProcess(o.Dir, spec.name, o.Binary, env, spec.ready, spec.args...)
		if err != nil {
			s.stop()
			return nil, err
		}
		s.procs = append(s.procs, p)
		if err := p.waitReady(ctx, 90*time.Second); err != nil {
			s.stop()
			return nil, err
		}
	}
	return s, nil
}

// fetch saves url's body to path.
func fetch(ctx context.Context, url, path string) error {
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

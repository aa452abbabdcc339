// Package chaos is Clearway's fault suite (make chaos): it runs every
// process on its own (real Kafka with data on disk, real Redis with AOF,
// the customs exchange, gateway, tracker, adapter), keeps manifests
// coming, injects one fault at a time and then all of them in a seeded
// random order, and after each checks the ground truth (every 202 the load
// received, what the simulator decided for each parcel) against Redis,
// the statistics and what customs received.
package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/clearway/clearway/customs"
	"github.com/clearway/clearway/customs/bus"
	"github.com/clearway/clearway/customs/ceb"
	"github.com/clearway/clearway/customs/sample"
	"github.com/clearway/clearway/customs/sim"
	"github.com/clearway/clearway/gateway/devenv"
	"github.com/clearway/clearway/gateway/store"
	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"
)

// Ports of the suite's own servers, apart from a developer's.
const (
	redisPort    = "26379"
	kafkaPort    = "29092"
	gatewayAddr  = "127.0.0.1:28080"
	gateway2Addr = "127.0.0.1:28081"
	simAddr      = "127.0.0.1:28090"
)

var simCfg = sim.Config{Seed: 11, InspectionRate: 0.1, RejectionRate: 0.05, DetentionRate: 0.02, StepDelay: 50 * time.Millisecond}

// rig is the running system and the means to break it.
type rig struct {
	t     *testing.T
	repo  string
	dir   string
	bin   string
	env   []string
	procs map[string]*process
	rdb   *redis.Client
	kafka bus.Config
}

func (r *rig) script(name, verb string) {
	r.t.Helper()
	cmd := exec.Command(filepath.Join(r.repo, "deployments/local", name+".sh"), verb)
	cmd.Env = r.env
	if out, err := cmd.CombinedOutput(); err != nil {
		r.t.Fatalf("%s.sh %s: %v\n%s", name, verb, err, out)
	}
}

type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when it has exited
}

// processes: name → clearway arguments and extra environment.
var processes = map[string]struct {
	args []string
	env  []string
}{
	"customs-sim": {[]string{"customs-sim"}, nil},
	"gateway":     {[]string{"serve", "gateway"}, nil},
	"tracker":     {[]string{"serve", "tracker"}, []string{"CLEARWAY_METRICS_ADDR=127.0.0.1:29465"}},
	"adapter":     {[]string{"serve", "adapter"}, []string{"CLEARWAY_METRICS_ADDR=127.0.0.1:29464"}},
	// second instances, for scaling out
	"gateway-2": {[]string{"serve", "gateway"}, []string{"CLEARWAY_HTTP_ADDR=" + gateway2Addr}},
	"tracker-2": {[]string{"serve", "tracker"}, []string{"CLEARWAY_METRICS_ADDR=127.0.0.1:29466"}},
	"adapter-2": {[]string{"serve", "adapter"}, []string{"CLEARWAY_METRICS_ADDR=127.0.0.1:29467"}},
	// through the single-window client's folders (CLEARWAY_CUSTOMS_DIR, set by the test)
	"customs-sim-dir": {[]string{"customs-sim"}, nil},
	"adapter-dir":     {[]string{"serve", "adapter"}, []string{"CLEARWAY_METRICS_ADDR=127.0.0.1:29464", "CLEARWAY_TRANSPORT=dir"}},
}

func (r *rig) start(name string) {
	r.t.Helper()
	spec := processes[name]
	log, err := os.OpenFile(filepath.Join(r.dir, name+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		r.t.Fatal(err)
	}
	cmd := exec.Command(r.bin, spec.args...)
	cmd.Env = append(append([]string{}, r.env...), spec.env...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); log.Close(); close(p.done) }()
	r.procs[name] = p
}

func (r *rig) kill(name string) {
	if p := r.procs[name]; p != nil {
		p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.done
		delete(r.procs, name)
	}
}

// terminate sends SIGTERM and expects the process to stop taking work,
// hand back or finish what it holds and exit within grace (and a second).
func (r *rig) terminate(name string, grace time.Duration) {
	p := r.procs[name]
	start := time.Now()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		if code := p.cmd.ProcessState.ExitCode(); code != 0 {
			r.t.Errorf("%s exited %d on SIGTERM; see %s", name, code, filepath.Join(r.dir, name+".log"))
		}
	case <-time.After(grace + time.Second):
		r.t.Errorf("%s still running %v after SIGTERM (grace %v)", name, time.Since(start), grace)
		r.kill(name)
	}
	delete(r.procs, name)
}

var readyURL = map[string]string{
	"customs-sim": "http://" + simAddr + "/sim/new-declarations",
	"gateway":     "http://" + gatewayAddr + "/readyz",
	"tracker":     "http://127.0.0.1:29465/readyz",
	"adapter":     "http://127.0.0.1:29464/readyz",
	"gateway-2":   "http://" + gateway2Addr + "/readyz",
	"tracker-2":   "http://127.0.0.1:29466/readyz",
	"adapter-2":   "http://127.0.0.1:29467/readyz",

	"customs-sim-dir": "http://" + simAddr + "/sim/new-declarations",
	"adapter-dir":     "http://127.0.0.1:29464/readyz",
}

func (r *rig) signal(name string, sig syscall.Signal) { r.procs[name].cmd.Process.Signal(sig) }

// waitReady waits for url to answer 200.
func (r *rig) waitReady(url string) {
	r.t.Helper()
	for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("%s not ready after 90 s; logs in %s", url, r.dir)
		}
	}
}

// startAll starts the named processes and waits until each is ready.
func (r *rig) startAll(names ...string) {
	for _, name := range names {
		r.start(name)
	}
	for _, name := range names {
		r.waitReady(readyURL[name])
	}
}

// load posts manifests the way a courier does: each until it is answered
// 202 (a 503 is retried after Retry-After, a broken connection at once,
// with the same manifestNo, which Clearway takes once).
type load struct {
	gateways []string // posted to in turn, as a load balancer would
	mu       sync.Mutex
	want     map[string]customs.Status // declaration id → final status the simulator decides
	codes    map[string][]string
	manifest int

	kafkaDown     atomic.Bool
	acceptedWhile atomic.Int64 // 202s to requests sent while Kafka was down
	noRetryAfter  atomic.Int64 // 503s without Retry-After
}

// run posts manifests until ctx ends; the manifest in hand is posted
// until it is accepted even then, so that every parcel Kafka took is one
// the load knows of.
func (l *load) run(ctx context.Context) {
	for ctx.Err() == nil {
		l.mu.Lock()
		l.manifest++
		n := l.manifest
		l.mu.Unlock()
		m := sample.Manifest(fmt.Sprintf("CHAOS-%05d", n), 20, sample.Options{Seed: uint64(n), Prefix: fmt.Sprintf("CH%05d", n), MaxItems: 2})
		body, _ := json.Marshal(m)
		for attempt := n; ; attempt++ {
			down := l.kafkaDown.Load()
			req, _ := http.NewRequest("POST", "http://"+l.gateways[attempt%len(l.gateways)]+"/v1/manifests", bytes.NewReader(body))
			req.Header.Set("X-API-Key", "dev-courier-key")
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				time.Sleep(100 * time.Millisecond)
				continue
			}
			var rec struct {
				Parcels []struct{ DeclarationID, LogisticsNo, Result string }
			}
			json.NewDecoder(resp.Body).Decode(&rec)
			resp.Body.Close()
			if resp.StatusCode == http.StatusAccepted {
				if down && l.kafkaDown.Load() {
					l.acceptedWhile.Add(1)
				}
				l.record(m, rec.Parcels)
				break
			}
			if resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") == "" {
				l.noRetryAfter.Add(1)
			}
			time.Sleep(200 * time.Millisecond)
		}
		time.Sleep(30 * time.Millisecond)
	}
}

func newLoad(gateways ...string) *load {
	return &load{gateways: gateways, want: map[string]customs.Status{}, codes: map[string][]string{}}
}

func (l *load) record(m customs.Manifest, parcels []struct{ DeclarationID, LogisticsNo, Result string }) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, p := range parcels {
		if p.Result == "rejected" {
			continue
		}
		out := simCfg.Decide(m.Parcels[i].AgentCode, m.Parcels[i].LogisticsNo)
		s, _, _ := customs.FromReturnStatus(out.Final())
		l.want[p.DeclarationID], l.codes[p.DeclarationID] = s, out.Codes
	}
}

// fault is one thing that goes wrong, and what must hold while it does.
type fault struct {
	name   string
	inject func(r *rig, l *load)
}

var faults = []fault{
	{"rolling restart (SIGTERM each process)", func(r *rig, l *load) {
		for _, name := range []string{"gateway", "tracker", "adapter"} {
			r.terminate(name, 5*time.Second)
			r.start(name)
			r.waitReady(readyURL[name])
		}
	}},
	killAndRestart("gateway"),
	killAndRestart("adapter"),
	killAndRestart("tracker"),
	{"kill -9 Kafka broker", func(r *rig, l *load) {
		r.script("kafka", "kill")
		l.kafkaDown.Store(true)
		time.Sleep(3 * time.Second)
		l.kafkaDown.Store(false)
		r.script("kafka", "start")
		r.waitReady(readyURL["gateway"])
	}},
	{"kill -9 Redis (AOF)", func(r *rig, l *load) {
		r.script("redis", "kill")
		time.Sleep(500 * time.Millisecond)
		if code := get(r.t, "http://"+gatewayAddr+"/v1/declarations?logisticsNo=CH0000100000000", "dev-broker-key"); code != http.StatusServiceUnavailable {
			r.t.Errorf("a read while Redis is down answered %d, want 503", code)
		}
		time.Sleep(2 * time.Second)
		r.script("redis", "start")
	}},
	{"Redis FLUSHALL, then rebuild", func(r *rig, l *load) {
		if err := r.rdb.FlushAll(context.Background()).Err(); err != nil {
			r.t.Fatal(err)
		}
		cmd := exec.Command(r.bin, "rebuild", "--force")
		cmd.Env = r.env
		if out, err := cmd.CombinedOutput(); err != nil {
			r.t.Fatalf("rebuild: %v\n%s", err, out)
		}
	}},
	{"customs exchange down (stopped)", func(r *rig, l *load) {
		r.signal("customs-sim", syscall.SIGSTOP)
		time.Sleep(3 * time.Second)
		r.signal("customs-sim", syscall.SIGCONT)
	}},
	{"customs exchange answering errors", func(r *rig, l *load) {
		setFault(r.t, `{"mode":"errors"}`)
		time.Sleep(3 * time.Second)
		setFault(r.t, `{"mode":"ok"}`)
	}},
	{"customs exchange slow", func(r *rig, l *load) {
		setFault(r.t, `{"mode":"slow","delay":"1500ms"}`)
		time.Sleep(3 * time.Second)
		setFault(r.t, `{"mode":"ok"}`)
	}},
	{"poison message on each topic", func(r *rig, l *load) {
		w := bus.NewProducer(r.kafka)
		defer w.Close()
		var msgs []kafka.Message
		for _, topic := range []string{bus.TopicDeclarations, bus.TopicReceipts, bus.TopicStatus} {
			msgs = append(msgs,
				kafka.Message{Topic: topic, Key: []byte("poison"), Value: []byte("\x00not json")},
				kafka.Message{Topic: topic, Key: []byte("poison"), Value: []byte(`{"schemaVersion":99,"what":"a payload from a future producer"}`)})
		}
		if err := w.WriteMessages(context.Background(), msgs...); err != nil {
			r.t.Fatal(err)
		}
		// Both consumers of the declarations topic set its poison aside.
		want := map[string]int{bus.TopicDeclarations: 4, bus.TopicReceipts: 2, bus.TopicStatus: 2}
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(time.Second) {
			got := deadLetters(r)
			short := false
			for topic, n := range want {
				short = short || got[topic] < n
			}
			if !short {
				break
			}
			if time.Now().After(deadline) {
				r.t.Errorf("dead letters with a reason, by source: %v; want at least %v", got, want)
				break
			}
		}
	}},
}

// killAndRestart is kill -9 of one of Clearway's processes, mid-batch
// under the load, and a new one a second later.
func killAndRestart(name string) fault {
	return fault{"kill -9 " + name, func(r *rig, l *load) {
		r.kill(name)
		time.Sleep(time.Second)
		r.start(name)
		r.waitReady(readyURL[name])
	}}
}

func setFault(t *testing.T, body string) {
	req, _ := http.NewRequest("PUT", "http://"+simAddr+"/sim/fault", strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("set the exchange's fault %s: %v %v", body, resp, err)
	}
	resp.Body.Close()
}

func get(t *testing.T, url, key string) int {
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("X-API-Key", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// row is one line of the report.
type row struct {
	fault                                       string
	accepted, lost, wrong, duplicated, countOff int
	notes                                       []string
}

// newRig builds clearway and starts the suite's own Redis (AOF) and Kafka
// broker (data on disk); cleanup stops everything.
func newRig(t *testing.T) *rig {
	if os.Getenv("CLEARWAY_CHAOS") == "" {
		t.Skip("the fault suite runs with make chaos (CLEARWAY_CHAOS=full, or bounded as in CI)")
	}
	repo, _ := filepath.Abs("../../..")
	dir := t.TempDir()
	r := &rig{t: t, repo: repo, dir: dir, bin: filepath.Join(dir, "clearway"), procs: map[string]*process{},
		kafka: bus.Config{Brokers: []string{"127.0.0.1:" + kafkaPort}, Partitions: 6, ReplicationFactor: 1}}
	if out, err := exec.Command("go", "build", "-o", r.bin, "../../clearway").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	r.env = append(os.Environ(),
		"REDIS_PORT="+redisPort, "REDIS_DATA="+filepath.Join(dir, "redis"),
		"KAFKA_PORT="+kafkaPort, "KAFKA_DATA="+filepath.Join(dir, "kafka"),
		"CLEARWAY_REDIS_ADDR=127.0.0.1:"+redisPort, "CLEARWAY_KAFKA_BROKERS=127.0.0.1:"+kafkaPort,
		"CLEARWAY_HTTP_ADDR="+gatewayAddr, "CLEARWAY_SIM_ADDR="+simAddr, "CLEARWAY_TRANSPORT=http", "CLEARWAY_CUSTOMS_URL=http://"+simAddr,
		"CLEARWAY_RATE_LIMIT=0", "CLEARWAY_API_KEYS=", "CLEARWAY_PUBLISH_TIMEOUT=2s", "CLEARWAY_SHUTDOWN_GRACE=5s",
		fmt.Sprintf("CLEARWAY_SIM_SEED=%d", simCfg.Seed), fmt.Sprintf("CLEARWAY_SIM_INSPECTION_RATE=%g", simCfg.InspectionRate),
		fmt.Sprintf("CLEARWAY_SIM_REJECTION_RATE=%g", simCfg.RejectionRate), fmt.Sprintf("CLEARWAY_SIM_DETENTION_RATE=%g", simCfg.DetentionRate),
		"CLEARWAY_SIM_STEP_DELAY="+simCfg.StepDelay.String())
	r.script("redis", "start")
	r.script("kafka", "start")
	r.rdb = redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + redisPort})
	t.Cleanup(func() {
		for name := range r.procs {
			r.kill(name)
		}
		r.rdb.Close()
		r.script("kafka", "stop")
		r.script("redis", "stop")
	})
	return r
}

func TestChaos(t *testing.T) {
	mode := os.Getenv("CLEARWAY_CHAOS")
	r := newRig(t)
	r.startAll("customs-sim", "tracker", "adapter", "gateway")

	l := newLoad(gatewayAddr)
	var rows []row
	runFault := func(f fault) {
		ctx, stop := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { l.run(ctx); close(done) }()
		time.Sleep(2 * time.Second) // steady load first
		f.inject(r, l)
		time.Sleep(2 * time.Second) // and after
		stop()
		<-done
		rows = append(rows, check(t, r, l, f.name))
	}
	for _, f := range faults {
		runFault(f)
	}
	if mode == "full" { // then all of them again, in a seeded random order, under one load
		order := rand.New(rand.NewPCG(1, 2)).Perm(len(faults))
		ctx, stop := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { l.run(ctx); close(done) }()
		var names []string
		for _, i := range order {
			faults[i].inject(r, l)
			names = append(names, faults[i].name)
			time.Sleep(time.Second)
		}
		stop()
		<-done
		rows = append(rows, check(t, r, l, "all, seeded order: "+strings.Join(names, " → ")))
	}

	var b strings.Builder
	fmt.Fprintf(&b, "\n%-40s %9s %5s %6s %11s %13s\n", "fault", "accepted", "lost", "wrong", "duplicated", "counters off")
	for _, row := range rows {
		fmt.Fprintf(&b, "%-40.40s %9d %5d %6d %11d %13d\n", row.fault, row.accepted, row.lost, row.wrong, row.duplicated, row.countOff)
		for _, n := range row.notes {
			fmt.Fprintf(&b, "    %s\n", n)
		}
	}
	fmt.Fprintf(&b, "202s answered while Kafka was down: %d; 503s without Retry-After: %d\n", l.acceptedWhile.Load(), l.noRetryAfter.Load())
	t.Log(b.String())
	if dest := os.Getenv("CLEARWAY_ARTIFACTS"); dest != "" {
		os.WriteFile(filepath.Join(dest, "chaos.txt"), []byte(b.String()), 0o644)
	}
	if l.acceptedWhile.Load() != 0 || l.noRetryAfter.Load() != 0 {
		t.Errorf("while Kafka was down: %d parcels accepted, %d 503s without Retry-After; want none", l.acceptedWhile.Load(), l.noRetryAfter.Load())
	}
}

// check waits until every accepted parcel is final, then compares.
func check(t *testing.T, r *rig, l *load, name string) row {
	l.mu.Lock()
	want := make(map[string]customs.Status, len(l.want))
	for id, s := range l.want {
		want[id] = s
	}
	l.mu.Unlock()
	ctx := context.Background()
	out := row{fault: name, accepted: len(want)}
	var got map[string]string
	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(500 * time.Millisecond) {
		got = statuses(ctx, r.rdb, want)
		pending := 0
		for id := range want {
			if !customs.Status(got[id]).Final() {
				pending++
			}
		}
		if pending == 0 || time.Now().After(deadline) {
			break
		}
	}
	for id, s := range want {
		switch {
		case !customs.Status(got[id]).Final():
			out.lost++
		case customs.Status(got[id]) != s:
			out.wrong++
		}
	}
	var declared map[string]int
	resp, err := http.Get("http://" + simAddr + "/sim/new-declarations")
	if err == nil {
		json.NewDecoder(resp.Body).Decode(&declared)
		resp.Body.Close()
	}
	for _, n := range declared {
		if n > 1 {
			out.duplicated++
		}
	}
	// The statistics equal the ground truth, counted exactly.
	expect := map[string]int64{"declared": int64(len(want))}
	l.mu.Lock()
	for id := range want {
		for _, c := range l.codes[id] {
			switch c {
			case "800":
				expect["released"]++
			case "500":
				expect["inspected"]++
			case "100":
				expect["rejected"]++
			case "501":
				expect["detained"]++
			}
		}
	}
	l.mu.Unlock()
	// A receipt envelope an adapter held when it died is offered again when
	// its lease ends (30 s): a parcel can be final before its inspection
	// receipt is in. So the counters get until then and a margin to settle.
	for deadline := time.Now().Add(45 * time.Second); ; time.Sleep(time.Second) {
		out.countOff, out.notes = 0, nil
		got := greenChannelTotals()
		for k, v := range expect {
			if got[k] != v {
				out.countOff++
				out.notes = append(out.notes, fmt.Sprintf("%s: statistics %d, ground truth %d", k, got[k], v))
			}
		}
		if out.countOff == 0 || time.Now().After(deadline) {
			break
		}
	}
	if out.lost+out.wrong+out.duplicated+out.countOff > 0 {
		t.Errorf("%s: %d lost, %d in the wrong status, %d declared twice, %d counters off %v (logs in %s)",
			name, out.lost, out.wrong, out.duplicated, out.countOff, out.notes, r.dir)
	}
	return out
}

// greenChannelTotals reads the statistics' totals from yesterday to
// tomorrow (China time), so a run across midnight is counted whole.
func greenChannelTotals() map[string]int64 {
	today := time.Now().In(ceb.ChinaTime)
	url := fmt.Sprintf("http://%s/v1/stats/green-channel?from=%s&to=%s", gatewayAddr, today.AddDate(0, 0, -1).Format(time.DateOnly), today.AddDate(0, 0, 1).Format(time.DateOnly))
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("X-API-Key", "dev-airport-key")
	var g store.GreenChannel
	if resp, err := http.DefaultClient.Do(req); err == nil {
		json.NewDecoder(resp.Body).Decode(&g)
		resp.Body.Close()
	}
	return map[string]int64{"declared": g.Totals.Declared, "released": g.Totals.Released, "inspected": g.Totals.Inspected,
		"rejected": g.Totals.Rejected, "detained": g.Totals.Detained}
}

func statuses(ctx context.Context, rdb *redis.Client, want map[string]customs.Status) map[string]string {
	ids := make([]string, 0, len(want))
	for id := range want {
		ids = append(ids, id)
	}
	cmds := make([]*redis.StringCmd, len(ids))
	rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HGet(ctx, store.DeclarationKey(id), "status")
		}
		return nil
	})
	out := make(map[string]string, len(ids))
	for i, c := range cmds {
		out[ids[i]] = c.Val()
	}
	return out
}

// deadLetters counts the dead letters that carry a reason, by source topic.
func deadLetters(r *rig) map[string]int {
	out := map[string]int{}
	for _, m := range devenv.ReadTopic(r.kafka, bus.TopicDeadLetter, 3*time.Second) {
		var source, reason string
		for _, h := range m.Headers {
			switch h.Key {
			case "clearway-source":
				source = string(h.Value)
			case "clearway-reason":
				reason = string(h.Value)
			}
		}
		if reason != "" {
			out[source]++
		}
	}
	return out
}

// Two gateways, two trackers and two adapters share the work: the
// consumer groups split the six partitions between the two members of
// each; one of each is killed midway, the groups rebalance onto the
// survivors, and every parcel still reaches its decided status, declared
// once, with exact statistics.
func TestTwoOfEveryProcessAndOneOfEachKilled(t *testing.T) {
	r := newRig(t)
	r.startAll("customs-sim", "tracker", "tracker-2", "adapter", "adapter-2", "gateway", "gateway-2")
	l := newLoad(gatewayAddr, gateway2Addr)
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { l.run(ctx); close(done) }()

	time.Sleep(4 * time.Second)
	groups := []string{"clearway-adapter", "clearway-tracker-declarations", "clearway-tracker-receipts"}
	before := members(t, r, groups)
	for _, g := range groups {
		if len(before[g]) != 2 {
			t.Errorf("group %s has %d members, want 2: %v", g, len(before[g]), before[g])
		}
	}
	for _, name := range []string{"gateway-2", "tracker-2", "adapter-2"} {
		r.kill(name)
	}
	l.gateways = l.gateways[:1] // the load balancer takes the dead gateway out
	t.Log("killed gateway-2, tracker-2 and adapter-2")
	var after map[string][]string
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(time.Second) {
		after = members(t, r, groups)
		one := true
		for _, g := range groups {
			one = one && len(after[g]) == 1 && strings.Contains(after[g][0], "6 partitions")
		}
		if one {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("groups did not rebalance onto the survivors in a minute: %v", after)
		}
	}
	time.Sleep(3 * time.Second)
	stop()
	<-done
	if res := check(t, r, l, "two of each, one of each killed"); res.accepted == 0 {
		t.Fatal("no parcel was accepted")
	}
}

// The same load through the dir transport, the simulator on the other
// side of the folders as a single-window client would be, every parcel's
// waybill declared too; the adapter is killed (SIGKILL) twice mid-run and
// restarted on the same folders. Every parcel still reaches its decided
// status, none is declared twice, and no file is left half-written.
func TestDirTransportWithTheAdapterKilledMidRun(t *testing.T) {
	r := newRig(t)
	exchange := filepath.Join(r.dir, "exchange")
	r.env = append(r.env, "CLEARWAY_CUSTOMS_DIR="+exchange, "CLEARWAY_WAYBILL_TENANTS=*")
	r.startAll("customs-sim-dir", "tracker", "adapter-dir", "gateway")
	l := newLoad(gatewayAddr)
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { l.run(ctx); close(done) }()
	for range 2 {
		time.Sleep(3 * time.Second)
		r.kill("adapter-dir")
		t.Log("killed the adapter")
		time.Sleep(time.Second)
		r.startAll("adapter-dir")
	}
	time.Sleep(3 * time.Second)
	stop()
	<-done
	if res := check(t, r, l, "dir transport, adapter killed twice"); res.accepted == 0 {
		t.Fatal("no parcel was accepted")
	}
	for _, glob := range []string{"outbox/*", "clearway/ready/*", "clearway/tmp/*", "inbox/*"} {
		if left, _ := filepath.Glob(filepath.Join(exchange, glob)); len(left) > 0 {
			t.Errorf("%d files left in %s once everything was final: %v", len(left), glob, left[:min(3, len(left))])
		}
	}
	sent, _ := filepath.Glob(filepath.Join(exchange, "archive/out/*/*.xml"))
	received, _ := filepath.Glob(filepath.Join(exchange, "archive/in/*/*.xml"))
	t.Logf("%d messages sent and %d receipt files received through the folders", len(sent), len(received))
	if len(sent) == 0 || len(received) == 0 {
		t.Fatal("nothing went through the folders")
	}
}

// members lists each group's members with the partitions each holds.
func members(t *testing.T, r *rig, groups []string) map[string][]string {
	client := &kafka.Client{Addr: kafka.TCP(r.kafka.Brokers...), Timeout: 5 * time.Second}
	res, err := client.DescribeGroups(context.Background(), &kafka.DescribeGroupsRequest{GroupIDs: groups})
	if err != nil {
		t.Fatalf("describe groups: %v", err)
	}
	out := map[string][]string{}
	for _, g := range res.Groups {
		for _, m := range g.Members {
			var parts []int
			for _, topic := range m.MemberAssignments.Topics {
				parts = append(parts, topic.Partitions...)
			}
			line := fmt.Sprintf("%s holds %d partitions %v", m.MemberID, len(parts), parts)
			out[g.GroupID] = append(out[g.GroupID], line)
			t.Logf("group %s: member %s", g.GroupID, line)
		}
	}
	return out
}

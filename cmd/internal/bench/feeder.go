package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/clearway/clearway/customs/ceb"
	"github.com/clearway/clearway/customs/sample"
	"github.com/clearway/clearway/gateway/api"
)

// Placeholders in a template manifest, replaced in its JSON for every post
// so that each parcel is new: the waybill prefix (also in the manifest
// number, the orderNo and the copNo) and the flight.
const (
	tokenPlaceholder  = "ZQ000000"
	flightPlaceholder = "ZZ9901"
	flightsPerDay     = 20
)

// feeder posts generated manifests as a courier does, and keeps a sample
// of what it declared for the status reads.
type feeder struct {
	url       string
	client    *http.Client
	templates map[int][]byte // JSON by parcel count
	next      atomic.Int64   // the last token used
	accepted  atomic.Int64   // parcels Kafka acknowledged (202)

	mu     sync.Mutex
	sample []declared // a reservoir of declared parcels
	seen   int64
}

// declared is one accepted parcel.
type declared struct{ ID, LogisticsNo string }

const sampleSize = 100000

func newFeeder(url string, sizes ...int) *feeder {
	f := &feeder{url: url, templates: map[int][]byte{},
		client: &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	today := time.Now().In(ceb.ChinaTime).Format("20060102")
	for _, n := range sizes {
		m := sample.Manifest("MF-"+tokenPlaceholder, n, sample.Options{Seed: uint64(n), Prefix: tokenPlaceholder, Bonded: 0.2,
			Flight: flightPlaceholder, IeDate: today})
		f.templates[n], _ = json.Marshal(m)
	}
	return f
}

// body is a fresh manifest of n parcels: its own waybill numbers, one of
// the day's flights.
func (f *feeder) body(n int) []byte {
	seq := f.next.Add(1)
	token := fmt.Sprintf("B%07s", strconv.FormatInt(seq, 36))
	b := bytes.ReplaceAll(f.templates[n], []byte(tokenPlaceholder), []byte(token))
	return bytes.ReplaceAll(b, []byte(flightPlaceholder), fmt.Appendf(nil, "ZZ99%02d", seq%flightsPerDay))
}

// post declares one manifest of n parcels and returns how long the 202
// took.
func (f *feeder) post(ctx context.Context, n int) (time.Duration, error) {
	body := f.body(n)
	req, err := http.NewRequestWithContext(ctx, "POST", f.url+"/v1/manifests", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-API-Key", courierKey)
	start := time.Now()
	resp, err := f.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	took := time.Since(start)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusAccepted {
		return 0, fmt.Errorf("POST /v1/manifests: %s: %.300s", resp.Status, raw)
	}
	var rec api.ManifestReceipt
	if err := json.Unmarshal(raw, &rec); err != nil {
		return 0, err
	}
	if rec.Accepted != n {
		return 0, fmt.Errorf("POST /v1/manifests: %d of %d parcels accepted: %.300s", rec.Accepted, n, raw)
	}
	f.accepted.Add(int64(n))
	f.mu.Lock()
	for _, p := range rec.Parcels { // reservoir sampling: every parcel equally likely
		f.seen++
		if len(f.sample) < sampleSize {
			f.sample = append(f.sample, declared{p.DeclarationID, p.LogisticsNo})
		} else if i := rand.Int64N(f.seen); i < sampleSize {
			f.sample[i] = declared{p.DeclarationID, p.LogisticsNo}
		}
	}
	f.mu.Unlock()
	return took, nil
}

// pick is a random declared parcel.
func (f *feeder) pick() declared {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.sample[rand.IntN(len(f.sample))]
}

// feed posts manifests of n parcels from workers goroutines until ctx
// ends, or, when until is set, starts none after it and lets those in
// flight finish; each worker waits while allow says no (a bounded
// backlog). It records each post's latency.
func (f *feeder) feed(ctx context.Context, workers, n int, until time.Time, allow func() bool, lat *latencies) error {
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for ctx.Err() == nil && (until.IsZero() || time.Now().Before(until)) {
				if allow != nil && !allow() {
					sleep(ctx, 20*time.Millisecond)
					continue
				}
				took, err := f.post(ctx, n)
				if ctx.Err() != nil {
					return
				}
				if err != nil {
					errs <- err
					return
				}
				if lat != nil {
					lat.add(took)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

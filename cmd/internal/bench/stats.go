package bench

import (
	"context"
	"slices"
	"sync"
	"time"
)

// latencies collects durations from many goroutines.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
}

// quantile is the q-quantile (nearest rank) in milliseconds.
func (l *latencies) quantile(q float64) float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.d) == 0 {
		return 0
	}
	slices.Sort(l.d)
	i := int(q*float64(len(l.d))+0.5) - 1
	return float64(l.d[min(max(i, 0), len(l.d)-1)]) / float64(time.Millisecond)
}

func (l *latencies) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.d)
}

// parallel calls do for every step-th index from 0 to n, from workers
// goroutines, and stops at the first error.
func parallel(ctx context.Context, workers, n, step int, do func(from int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var first error
	var once sync.Once
	chunks := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for from := range chunks {
				if err := do(from); err != nil {
					once.Do(func() { first = err; cancel() })
					return
				}
			}
		})
	}
send:
	for from := 0; from < n; from += step {
		select {
		case chunks <- from:
		case <-ctx.Done():
			break send
		}
	}
	close(chunks)
	wg.Wait()
	if first == nil {
		first = ctx.Err() // the caller's context ended first
	}
	return first
}

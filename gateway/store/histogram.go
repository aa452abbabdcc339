package store

import (
	"math"
	"sort"
)

// Clearance times are kept as log-bucketed histograms (the DDSketch
// mapping): bucket i holds durations in (γ^(i-1), γ^i] milliseconds, and
// bucket 0 those of 1 ms or less. Reporting a bucket by 2γ^i/(γ+1) is off
// from every value in it by at most HistogramRelativeError, so a
// percentile read off the histogram is within that relative error of the
// exact one, while a period holds at most ~550 buckets for anything up to
// 30 days, however many parcels it counted.
const HistogramRelativeError = 0.02

var histogramGamma = (1 + HistogramRelativeError) / (1 - HistogramRelativeError)

// bucketValue is the value reported for bucket i, in milliseconds.
func bucketValue(i int) float64 {
	if i <= 0 {
		return 1
	}
	return 2 * math.Pow(histogramGamma, float64(i)) / (histogramGamma + 1)
}

// Histogram counts durations by bucket.
type Histogram map[int]int64

// Bucket is one histogram bucket as reported, in seconds.
type Bucket struct {
	FromSeconds float64 `json:"fromSeconds"`
	ToSeconds   float64 `json:"toSeconds"`
	Count       int64   `json:"count"`
}

// Distribution summarises a histogram: its count and percentiles in
// seconds, each within HistogramRelativeError of the exact value.
type Distribution struct {
	Count      int64    `json:"count"`
	P50Seconds float64  `json:"p50Seconds"`
	P90Seconds float64  `json:"p90Seconds"`
	P99Seconds float64  `json:"p99Seconds"`
	Buckets    []Bucket `json:"buckets,omitempty"`
}

// Quantile is the nearest-rank q-quantile in milliseconds: the value of
// the ⌈q·n⌉-th smallest duration.
func (h Histogram) Quantile(q float64) float64 {
	idx, n := h.sorted()
	if n == 0 {
		return 0
	}
	rank := int64(math.Ceil(q * float64(n)))
	var seen int64
	for _, i := range idx {
		seen += h[i]
		if seen >= rank {
			return bucketValue(i)
		}
	}
	return bucketValue(idx[len(idx)-1])
}

func (h Histogram) sorted() ([]int, int64) {
	idx := make([]int, 0, len(h))
	var n int64
	for i, c := range h {
		if c > 0 {
			idx = append(idx, i)
			n += c
		}
	}
	sort.Ints(idx)
	return idx, n
}

// Distribution summarises h; withBuckets adds the buckets themselves.
func (h Histogram) Distribution(withBuckets bool) Distribution {
	idx, n := h.sorted()
	d := Distribution{Count: n, P50Seconds: h.Quantile(0.5) / 1000, P90Seconds: h.Quantile(0.9) / 1000, P99Seconds: h.Quantile(0.99) / 1000}
	if n == 0 {
		d = Distribution{}
	}
	if withBuckets {
		d.Buckets = make([]Bucket, 0, len(idx))
		for _, i := range idx {
			from := 0.0
			if i > 0 {
				from = math.Pow(histogramGamma, float64(i-1)) / 1000
			}
			d.Buckets = append(d.Buckets, Bucket{FromSeconds: from, ToSeconds: math.Pow(histogramGamma, float64(i)) / 1000, Count: h[i]})
		}
	}
	return d
}

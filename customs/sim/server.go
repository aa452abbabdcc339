package sim

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
)

// Server puts the simulator behind HTTP, as a customs exchange a separate
// process reaches over the network (the adapter's http transport):
//
//	POST   /dxp/messages        one DXP envelope; 202 once taken
//	GET    /dxp/receipts        the next receipt envelope (long poll, ?wait=5s),
//	                            leased: X-Receipt-Id names it; 204 when none
//	DELETE /dxp/receipts/{id}   acknowledge it; an unacknowledged one is
//	                            offered again once its lease ends
//	GET    /sim/new-declarations  appType=1 declarations received per agentCode/copNo
//	PUT    /sim/fault           {"mode": "ok" | "errors" | "slow", "delay": "2s"}:
//	                            the exchange answers 503, or slowly, for fault tests
//
// A message posted again (same CopMsgId) is answered 202 and not processed
// again (see Customs.Send).
type Server struct {
	customs *Customs
	lease   time.Duration

	mu      sync.Mutex
	outbox  []*receiptEnvelope // in the order customs sent them
	arrived chan struct{}
	fault   Fault
}

// Fault is how the exchange misbehaves.
type Fault struct {
	Mode  string `json:"mode"`            // ok, errors (503 to everything), refuse (400 to every message), slow
	Delay string `json:"delay,omitempty"` // for slow
	delay time.Duration
}

type receiptEnvelope struct {
	id          string
	body        []byte
	leasedUntil time.Time
}

// maxEnvelopeBytes bounds one posted envelope (100 inventories of CEB603).
const maxEnvelopeBytes = 16 << 20

// NewServer serves c; Run must run for receipts to flow.
func NewServer(c *Customs, lease time.Duration) *Server {
	return &Server{customs: c, lease: lease, arrived: make(chan struct{}, 1)}
}

// Run moves the simulator's receipts into the outbox until ctx ends.
func (s *Server) Run(ctx context.Context) error {
	return s.customs.Run(ctx, func(_ context.Context, envelope []byte) error {
		s.mu.Lock()
		s.outbox = append(s.outbox, &receiptEnvelope{id: uuid.NewString(), body: envelope})
		s.mu.Unlock()
		select {
		case s.arrived <- struct{}{}:
		default:
		}
		return nil
	})
}

// Handler is the HTTP interface.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /dxp/messages", s.faulty(s.postMessage))
	mux.HandleFunc("GET /dxp/receipts", s.faulty(s.nextReceipt))
	mux.HandleFunc("DELETE /dxp/receipts/{id}", s.faulty(s.ackReceipt))
	mux.HandleFunc("PUT /sim/fault", s.setFault)
	mux.HandleFunc("GET /sim/new-declarations", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(s.customs.NewDeclarations())
	})
	return mux
}

func (s *Server) postMessage(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxEnvelopeBytes))
	if err != nil {
		http.Error(w, "envelope too large or unreadable", http.StatusRequestEntityTooLarge)
		return
	}
	if err := s.customs.Send(r.Context(), body); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

func (s *Server) nextReceipt(w http.ResponseWriter, r *http.Request) {
	wait := 5 * time.Second
	if v := r.URL.Query().Get("wait"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 || d > time.Minute {
			http.Error(w, "wait must be a duration up to 1m", http.StatusBadRequest)
			return
		}
		wait = d
	}
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		if e := s.lease1(time.Now()); e != nil {
			w.Header().Set("Content-Type", "application/xml")
			w.Header().Set("X-Receipt-Id", e.id)
			w.Write(e.body)
			return
		}
		select {
		case <-s.arrived:
		case <-time.After(s.lease / 4): // a lease may have ended
		case <-deadline.C:
			w.WriteHeader(http.StatusNoContent)
			return
		case <-r.Context().Done():
			return
		}
	}
}

// lease1 leases the oldest receipt envelope not leased now.
func (s *Server) lease1(now time.Time) *receiptEnvelope {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.outbox {
		if e.leasedUntil.Before(now) {
			e.leasedUntil = now.Add(s.lease)
			return e
		}
	}
	return nil
}

func (s *Server) ackReceipt(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, e := range s.outbox {
		if e.id == id {
			s.outbox = append(s.outbox[:i], s.outbox[i+1:]...)
			w.WriteHeader(http.StatusNoContent)
			return
		}
	}
	http.Error(w, "no receipt "+strconv.Quote(id), http.StatusNotFound)
}

func (s *Server) setFault(w http.ResponseWriter, r *http.Request) {
	var f Fault
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<10)).Decode(&f); err != nil {
		http.Error(w, "want {\"mode\": \"ok|errors|refuse|slow\", \"delay\": \"2s\"}", http.StatusBadRequest)
		return
	}
	if f.Mode == "slow" {
		d, err := time.ParseDuration(f.Delay)
		if err != nil || d <= 0 || d > time.Minute {
			http.Error(w, "delay must be a duration up to 1m", http.StatusBadRequest)
			return
		}
		f.delay = d
	} else if f.Mode != "ok" && f.Mode != "errors" && f.Mode != "refuse" {
		http.Error(w, "mode must be ok, errors, refuse or slow", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.fault = f
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// faulty applies the current fault to an exchange endpoint.
func (s *Server) faulty(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		f := s.fault
		s.mu.Unlock()
		switch f.Mode {
		case "errors":
			http.Error(w, "customs exchange unavailable (simulated)", http.StatusServiceUnavailable)
			return
		case "refuse": // messages only: receipts still flow
			if r.Method == http.MethodPost {
				http.Error(w, "message refused (simulated)", http.StatusBadRequest)
				return
			}
		case "slow":
			select {
			case <-time.After(f.delay):
			case <-r.Context().Done():
				return
			}
		}
		h(w, r)
	}
}

package stack

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/clearway/clearway/customs/ceb"
	"github.com/clearway/clearway/customs/sample"
	"github.com/clearway/clearway/customs/sim"
)

// findChromium is the browser the dashboard test drives. Without one the
// test is skipped on a laptop, but fails where a browser is promised: in CI
// and with CLEARWAY_REQUIRE_BROWSER=1.
func findChromium(t *testing.T) string {
	t.Helper()
	if name := os.Getenv("CLEARWAY_CHROMIUM"); name != "" {
		path, err := exec.LookPath(name)
		if err != nil {
			t.Fatalf("CLEARWAY_CHROMIUM=%s: %v", name, err)
		}
		return path
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	const msg = "no Chromium on PATH (apt-get install chromium, or set CLEARWAY_CHROMIUM)"
	if os.Getenv("CI") != "" || os.Getenv("CLEARWAY_REQUIRE_BROWSER") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg + ": the dashboard's browser test is skipped")
	return ""
}

// apiFigures holds the API's numbers as the JSON literals it sent, which
// is what the page must keep in each figure's data-value.
type apiFigures struct {
	Declared, Released, Inspected, Rejected, Detained, Returned, Departed json.Number
	DeclaredValueCNY                                                      string
	InspectionRate, ReleaseRate                                           json.Number
	DeclaredToReleased                                                    struct{ P50Seconds, P90Seconds, P99Seconds json.Number }
}

type apiFlight struct {
	VoyageNo    string
	Held        int
	ReadyToLoad bool
	HeldParcels []struct{ LogisticsNo string }
}

// pageFlight is one row of the page's flights table.
type pageFlight struct {
	Voyage string `json:"voyage"`
	Ready  string `json:"ready"`
	Held   string `json:"held"`
	Listed int    `json:"listed"` // held parcels listed under the flight
}

// pageStorage is everything the browser keeps for the page.
type pageStorage struct {
	Session string `json:"session"`
	Local   string `json:"local"`
	Cookie  string `json:"cookie"`
	Href    string `json:"href"`
}

const readStorage = `({session: JSON.stringify(sessionStorage), local: JSON.stringify(localStorage), cookie: document.cookie, href: location.href})`

func TestDashboardShowsTheAirportDeskTheAPIsFiguresAndKeepsTheKeyInTheTab(t *testing.T) {
	browser := findChromium(t)
	// Bounded as a whole: a hung browser or stack fails the test, not CI.
	ctx, cancel := context.WithTimeout(context.Background(), 110*time.Second)
	defer cancel()

	simCfg := sim.Config{Seed: 3, InspectionRate: 0.2, RejectionRate: 0.1, DetentionRate: 0.05, StepDelay: 5 * time.Millisecond}
	s, _ := startStack(t, simCfg)
	today := time.Now().In(ceb.ChinaTime)

	// Two flights of today, posted by the courier, cleared by the simulator.
	want := map[string]string{} // declarationId → final code
	finals := map[string]int{}  // final code → parcels
	for _, f := range []struct {
		manifestNo, prefix, flight string
		parcels                    int
		seed                       uint64
	}{{"DASH-1", "DSA", "CA1234", 30, 31}, {"DASH-2", "DSB", "MU2078", 20, 32}} {
		m := sample.Manifest(f.manifestNo, f.parcels, sample.Options{Seed: f.seed, Prefix: f.prefix, Flight: f.flight, IeDate: today.Format("20060102")})
		var rec struct {
			Accepted int
			Parcels  []struct{ DeclarationID string }
		}
		if code := call(t, "POST", s.URL+"/v1/manifests", "dev-courier-key", mustJSON(m), &rec); code != http.StatusAccepted || rec.Accepted != f.parcels {
			t.Fatalf("manifest %s: %d, %d of %d accepted", f.manifestNo, code, rec.Accepted, f.parcels)
		}
		for i, p := range rec.Parcels {
			code := simCfg.Decide(m.Parcels[i].AgentCode, m.Parcels[i].LogisticsNo).Final()
			want[p.DeclarationID] = code
			finals[code]++
		}
	}
	if finals["100"] == 0 || finals["501"] == 0 {
		t.Fatalf("the simulator rejected %d and detained %d parcels: the test needs both", finals["100"], finals["501"])
	}
	waitFinal(t, s, want)

	// What the API says, once it has counted every outcome.
	var stats struct{ Totals apiFigures }
	for {
		call(t, "GET", s.URL+"/v1/stats/green-channel?groupBy=hour", "dev-airport-key", nil, &stats)
		tl := stats.Totals
		if tl.Declared.String() == strconv.Itoa(len(want)) && tl.Released.String() == strconv.Itoa(finals["800"]) &&
			tl.Rejected.String() == strconv.Itoa(finals["100"]) && tl.Detained.String() == strconv.Itoa(finals["501"]) {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("statistics %+v never matched the simulator's outcomes %v", tl, finals)
		}
		time.Sleep(100 * time.Millisecond)
	}
	var flights struct{ Flights []apiFlight }
	call(t, "GET", s.URL+"/v1/flights?date="+today.Format(time.DateOnly), "dev-airport-key", nil, &flights)
	if len(flights.Flights) != 2 {
		t.Fatalf("the API lists %d flights today, want 2", len(flights.Flights))
	}

	checkDashboardFiles(t, s.URL)

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(browser),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.WindowSize(1280, 900))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	tab, cancelTab := chromedp.NewContext(allocCtx)
	defer cancelTab()

	// The airport desk signs in and sees exactly the API's figures.
	inTab(t, tab, chromedp.Navigate(s.URL+"/dashboard"))
	signInToDashboard(t, tab, "dev-airport-key")
	waitInTab(t, tab, `document.getElementById('fig-declared').dataset.value`)
	tl := stats.Totals
	wantFigures := map[string]string{
		"fig-declared": tl.Declared.String(), "fig-released": tl.Released.String(), "fig-inspected": tl.Inspected.String(),
		"fig-rejected": tl.Rejected.String(), "fig-detained": tl.Detained.String(), "fig-returned": tl.Returned.String(),
		"fig-departed": tl.Departed.String(), "fig-value": tl.DeclaredValueCNY,
		"fig-inspection-rate": tl.InspectionRate.String(), "fig-release-rate": tl.ReleaseRate.String(),
		"fig-p50": tl.DeclaredToReleased.P50Seconds.String(), "fig-p90": tl.DeclaredToReleased.P90Seconds.String(),
		"fig-p99": tl.DeclaredToReleased.P99Seconds.String(),
	}
	shown := evalInTab[map[string]string](t, tab,
		`Object.fromEntries([...document.querySelectorAll('[id^="fig-"]')].map((e) => [e.id, e.dataset.value]))`)
	if len(shown) != len(wantFigures) {
		t.Errorf("the page has %d figures, want %d: %v", len(shown), len(wantFigures), shown)
	}
	for id, v := range wantFigures {
		if shown[id] != v {
			t.Errorf("%s data-value = %q, the API says %q", id, shown[id], v)
		}
	}
	if text := evalInTab[string](t, tab, `document.getElementById('fig-declared').textContent`); text != strconv.Itoa(len(want)) {
		t.Errorf("fig-declared shows %q, want %d", text, len(want))
	}
	if n := evalInTab[int](t, tab, `document.querySelectorAll('#chart-volume rect').length`); n != 48 {
		t.Errorf("the volume chart has %d bars, want declared and released for 24 hours", n)
	}
	if n := evalInTab[int](t, tab, `document.querySelectorAll('#chart-clearance rect').length`); n == 0 {
		t.Error("the clearance-time histogram has no bars")
	}
	if reason := evalInTab[string](t, tab, `document.querySelector('#reasons tbody td').textContent`); reason != sim.RejectReason && reason != sim.DetainReason {
		t.Errorf("top reason %q, want one the simulator gives", reason)
	}

	// One row per flight, with the API's readiness and held parcels.
	rows := evalInTab[[]pageFlight](t, tab, `[...document.querySelectorAll('#flights tr[data-voyage]')].map((r) => {
		const next = r.nextElementSibling;
		return {voyage: r.dataset.voyage, ready: r.querySelector('[data-ready]').dataset.ready, held: r.querySelector('[data-held]').dataset.held,
			listed: next && next.classList.contains('held-row') ? next.querySelectorAll('table.held > tbody > tr').length : 0};
	})`)
	if len(rows) != len(flights.Flights) {
		t.Fatalf("the page shows %d flights, the API %d: %+v", len(rows), len(flights.Flights), rows)
	}
	for i, f := range flights.Flights {
		got := rows[i]
		if got.Voyage != f.VoyageNo || got.Ready != strconv.FormatBool(f.ReadyToLoad) || got.Held != strconv.Itoa(f.Held) || got.Listed != len(f.HeldParcels) {
			t.Errorf("flight row %+v, the API says %s ready=%v held=%d with %d listed", got, f.VoyageNo, f.ReadyToLoad, f.Held, len(f.HeldParcels))
		}
	}

	// The key is in this tab's sessionStorage and nowhere else.
	st := evalInTab[pageStorage](t, tab, readStorage)
	if !strings.Contains(st.Session, "dev-airport-key") {
		t.Errorf("the key is not in sessionStorage: %s", st.Session)
	}
	for where, v := range map[string]string{"the URL": st.Href, "localStorage": st.Local, "a cookie": st.Cookie} {
		if strings.Contains(v, "dev-airport-key") {
			t.Errorf("the key is in %s: %s", where, v)
		}
	}

	saveScreenshot(t, tab)

	// English on request; the choice outlives a sign-out.
	label := `document.querySelector('#today-heading [data-i18n]').textContent`
	if before := evalInTab[string](t, tab, label); before != "今日数据" {
		t.Errorf("the page opens with the heading %q, want Chinese 今日数据", before)
	}
	inTab(t, tab, chromedp.Click(chromedp.ID("lang")))
	if after := evalInTab[string](t, tab, label); after != "Today" {
		t.Errorf("after switching to English the heading reads %q, want Today", after)
	}

	// Signing out forgets the key and the figures.
	inTab(t, tab, chromedp.Click(chromedp.ID("signout")), chromedp.WaitVisible(chromedp.ID("signin-form")))
	if st := evalInTab[pageStorage](t, tab, readStorage); strings.Contains(st.Session, "dev-airport-key") {
		t.Errorf("the key is still in sessionStorage after signing out: %s", st.Session)
	}
	if evalInTab[bool](t, tab, `'value' in document.getElementById('fig-declared').dataset`) {
		t.Error("figures are still on the page after signing out")
	}

	// A key that is not accepted, and a courier's key, get a message, not figures.
	for _, refused := range []struct{ key, message string }{
		{"not-a-real-key", "Key not accepted"}, {"dev-courier-key", "may not see the dashboard"},
	} {
		key := refused.key
		signInToDashboard(t, tab, key)
		expr := `document.getElementById('signin-error').textContent`
		if _, err := chromedp.Run(tab, chromedp.Poll[bool](expr+`.includes(`+strconv.Quote(refused.message)+`)`, chromedp.WithPollingTimeout(20*time.Second))); err != nil {
			t.Errorf("signing in with %s says %q, want %q (%v)", key, evalInTab[string](t, tab, expr), refused.message, err)
		}
		if evalInTab[bool](t, tab, `!document.getElementById('board').hidden || 'value' in document.getElementById('fig-declared').dataset`) {
			t.Errorf("signing in with %s shows the board", key)
		}
		if st := evalInTab[pageStorage](t, tab, readStorage); strings.Contains(st.Session, key) {
			t.Errorf("the refused key %s is kept in sessionStorage", key)
		}
	}
}

// checkDashboardFiles: the page and its two files come with their content
// types and the headers that keep the key safe; nothing else is served.
func checkDashboardFiles(t *testing.T, base string) {
	t.Helper()
	for path, contentType := range map[string]string{
		"/dashboard": "text/html; charset=utf-8", "/dashboard/app.js": "text/javascript; charset=utf-8", "/dashboard/style.css": "text/css; charset=utf-8",
	} {
		res, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		h := res.Header
		if res.StatusCode != http.StatusOK || h.Get("Content-Type") != contentType || h.Get("X-Content-Type-Options") != "nosniff" ||
			h.Get("Cache-Control") != "no-cache" || h.Get("Referrer-Policy") != "no-referrer" ||
			!strings.Contains(h.Get("Content-Security-Policy"), "script-src 'self';") {
			t.Errorf("GET %s: %d %v", path, res.StatusCode, h)
		}
	}
	for _, path := range []string{"/dashboard/", "/dashboard/index.html", "/dashboard/assets/app.js", "/dashboard/%2e%2e/dashboard.go"} {
		res, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, res.StatusCode)
		}
	}
}

func signInToDashboard(t *testing.T, tab context.Context, key string) {
	t.Helper()
	inTab(t, tab, chromedp.WaitVisible(chromedp.ID("api-key")), chromedp.SendKeys(chromedp.ID("api-key"), key),
		chromedp.Click(chromedp.ID("signin-submit")))
}

func inTab(t *testing.T, tab context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(tab, steps...); err != nil {
		t.Fatal(err)
	}
}

func evalInTab[T any](t *testing.T, tab context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(tab, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	return v
}

// waitInTab polls expr until it is truthy.
func waitInTab(t *testing.T, tab context.Context, expr string) {
	t.Helper()
	if _, err := chromedp.Run(tab, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(20*time.Second))); err != nil {
		t.Fatalf("waiting for %s: %v", expr, err)
	}
}

// saveScreenshot keeps a full-page picture of the dashboard, for a person
// to look at: in CLEARWAY_ARTIFACTS when CI collects them.
func saveScreenshot(t *testing.T, tab context.Context) {
	t.Helper()
	png, err := chromedp.Run(tab, chromedp.FullScreenshot(100)) // 100 is PNG
	if err != nil {
		t.Fatal(err)
	}
	dir := os.Getenv("CLEARWAY_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "dashboard.png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("dashboard screenshot: %s", path)
}

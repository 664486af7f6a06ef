package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/tickwatch/tickwatch/internal/gastowntest"
	"github.com/tickwatch/tickwatch/internal/promtest"
	"github.com/tickwatch/tickwatch/simtown"
	"github.com/tickwatch/tickwatch/statuspage"
)

// chromiumPath is Debian's chromium, which make deps installs.
const chromiumPath = "/usr/bin/chromium"

// screenshotsEnv names a directory that receives screenshots of every page
// the browser tests look at, in light and dark mode, passed or failed.
const screenshotsEnv = "TICKWATCH_SCREENSHOTS"

// browser is a headless chromium driven through the DevTools protocol.
type browser struct {
	t    *testing.T
	ctx  context.Context   // the tab; each step runs with its own timeout
	shot map[string]string // page name → URL, captured when the test fails
}

// newBrowser starts chromium with a fresh profile and nothing that reaches
// out to the network by itself (this machine's closed network would make
// each such attempt wait for its timeout).
func newBrowser(t *testing.T) *browser {
	t.Helper()
	if _, err := exec.LookPath(chromiumPath); err != nil {
		t.Skipf("no %s: make deps installs Debian's chromium", chromiumPath)
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	ctx, cancelCtx := chromedp.NewContext(actx)
	b := &browser{t: t, ctx: ctx, shot: map[string]string{}}
	t.Cleanup(func() {
		if t.Failed() || os.Getenv(screenshotsEnv) != "" {
			b.saveScreenshots()
		}
		cancelCtx()
		cancelAlloc()
	})
	// The first step starts the browser, which lives as long as the
	// context of that step: it gets no timeout of its own.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting %s: %v", chromiumPath, err)
	}
	return b
}

// stepTimeout bounds one step, so a page that never shows what a test
// waits for fails the test instead of hanging it.
const stepTimeout = 30 * time.Second

// do runs steps in the tab.
func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

// value runs one action that returns a value.
func value[T any](b *browser, a chromedp.Action[T]) (T, error) {
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	return chromedp.Run(ctx, a)
}

// open loads a page and remembers it for the screenshots.
func (b *browser) open(name, url string) {
	b.t.Helper()
	b.shot[name] = url
	b.do("open "+url, chromedp.Navigate(url))
}

// saveScreenshots captures every page the test opened, in the light and the
// dark theme, into the test's artifact directory (go test -artifacts keeps
// it; make test does) or the directory named by TICKWATCH_SCREENSHOTS.
func (b *browser) saveScreenshots() {
	dir := os.Getenv(screenshotsEnv)
	if dir == "" {
		dir = b.t.ArtifactDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.t.Logf("screenshots: %v", err)
		return
	}
	for name, url := range b.shot {
		for _, scheme := range []string{"light", "dark"} {
			ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
			_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
				Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}})
			var png []byte
			if err == nil {
				err = chromedp.Do(ctx, chromedp.Navigate(url))
			}
			if err == nil {
				png, err = chromedp.Run(ctx, chromedp.FullScreenshot(100))
			}
			cancel()
			if err != nil {
				b.t.Logf("screenshot of %s: %v", url, err)
				continue
			}
			path := filepath.Join(dir, strings.ReplaceAll(b.t.Name(), "/", "_")+"-"+name+"-"+scheme+".png")
			if err := os.WriteFile(path, png, 0o644); err != nil {
				b.t.Logf("screenshot: %v", err)
				continue
			}
			b.t.Logf("screenshot of %s (%s theme): %s", url, scheme, path)
		}
	}
}

// rows lists the town ids of the fleet table, in order.
func (b *browser) rows() ([]string, error) {
	return value(b, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#towns tbody tr")].map(r => r.querySelector("td.town a").textContent)`))
}

// TestBrowserFirstRun opens the status pages of `tickwatch` started with no
// configuration, as a new user would: the fleet page lists the embedded
// towns, the filter narrows the table, sorting by queue depth puts the
// deepest first, and the demonstration town's page shows its sparklines and
// its violation with the id of the event that was logged for it.
func TestBrowserFirstRun(t *testing.T) {
	p := promtest.StartIn(t, t.TempDir(), promtest.Tickwatch(t), "--web.listen-address=127.0.0.1:0", "--log.format=logfmt")
	pageURL := p.WaitOutput(t, regexp.MustCompile(`msg="status page" url=(\S+)`), 30*time.Second)[1]
	b := newBrowser(t) // after tickwatch, so that its cleanup (screenshots) runs first

	var all []string
	for i := 1; i <= embeddedTowns; i++ {
		all = append(all, simtown.TownID(i, embeddedTowns))
	}
	b.open("fleet", pageURL)
	promtest.Eventually(t, 30*time.Second, "the fleet page to list every embedded town", func() error {
		b.do("reload", chromedp.Reload())
		ids, err := b.rows()
		if err != nil {
			return err
		}
		if slices.Sort(ids); !slices.Equal(ids, all) {
			return fmt.Errorf("rows %v", ids)
		}
		return nil
	})

	// The filter, submitted as a user does: type, press Enter.
	b.do("filter", chromedp.SendKeys(chromedp.CSS(`input[name=q]`), "town-1\r"),
		chromedp.WaitVisible(chromedp.CSS(`form.filter a[href="/"]`))) // "clear" shows once filtered
	ids, err := b.rows()
	if err != nil {
		t.Fatal(err)
	}
	want := slices.DeleteFunc(slices.Clone(all), func(id string) bool { return !strings.HasPrefix(id, "town-1") })
	if slices.Sort(ids); !slices.Equal(ids, want) {
		t.Errorf("filtered rows %v, want %v", ids, want)
	}

	// Sorting by queue depth: a click on the column, the deepest first.
	b.open("fleet", pageURL)
	b.do("sort by queue depth", chromedp.Click(chromedp.CSS(`#sort-queue`)),
		chromedp.WaitVisible(chromedp.CSS(`th[aria-sort=descending] #sort-queue`)))
	queues, err := value(b, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#towns tbody td.queue")].map(td => td.textContent.trim())`))
	if err != nil {
		t.Fatal(err)
	}
	depths := make([]int, 0, len(queues))
	for _, q := range queues {
		if n, err := strconv.Atoi(strings.TrimSuffix(q, "*")); err == nil {
			depths = append(depths, n)
		}
	}
	if len(depths) != embeddedTowns || !slices.IsSortedFunc(depths, func(a, b int) int { return b - a }) {
		t.Errorf("queue depths after sorting by queue depth: %v", queues)
	}

	// The demonstration breaks invariant #7 in town-03 at once: its page
	// shows the violation with the event id the log names, and sparklines.
	const town = "town-03"
	b.open("town", pageURL+"towns/"+town)
	var eventID string
	promtest.Eventually(t, 45*time.Second, town+"'s page to show an open violation with its event id", func() error {
		b.do("reload", chromedp.Reload())
		ids, err := value(b, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#violations code.event-id")].map(c => c.textContent)`))
		if err != nil {
			return err
		}
		if len(ids) != 1 {
			return fmt.Errorf("event ids on the page: %v", ids)
		}
		eventID = ids[0]
		return nil
	})
	points, err := value(b, chromedp.Evaluate[[]int](`[...document.querySelectorAll("svg.spark")].map(s => s.querySelectorAll("polyline").length && +s.dataset.points)`))
	if err != nil || len(points) != 2 || points[0] < 2 || points[1] < 2 {
		t.Errorf("sparklines (queue depth, wall clock) with %v points (%v), want two lines", points, err)
	}
	msg, err := value(b, chromedp.TextContent(chromedp.CSS(`#violations tbody td:nth-child(2)`)))
	if err != nil || !strings.Contains(msg, "has no hook") {
		t.Errorf("violation message %q (%v)", msg, err)
	}
	// The tracker opens the violation during the tick; the outbox logs its
	// event when the tick ends.
	re := regexp.MustCompile(`transition=opened town=` + town + ` .*event_id=(\w+)`)
	p.WaitOutput(t, re, 15*time.Second)
	opened := re.FindAllStringSubmatch(p.Output(), -1)
	if len(opened) != 1 || opened[0][1] != eventID {
		t.Errorf("the page shows event %s; the log has %d opened events for %s: %v", eventID, len(opened), town, opened)
	}
}

// TestBrowserRendersHostileTextAsText watches towns whose ids hold HTML,
// "/" and dots, one answering with an error that holds a script: the
// pages show them as text and run nothing of them.
func TestBrowserRendersHostileTextAsText(t *testing.T) {
	const (
		htmlID   = `<img src=x onerror="document.title='pwned'">`
		errorMsg = `<script>document.title='pwned'</script>`
	)
	ids := []string{htmlID, "a/b", ".."}
	fake := gastowntest.NewFake()
	for _, id := range ids {
		fake.DryRun[id] = gastowntest.Sample(t, "dry-run.json")
		fake.Status[id] = gastowntest.Sample(t, "status.json")
	}
	fake.Handlers[htmlID] = func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(500)
		json.NewEncoder(w).Encode(map[string]any{"success": false, "error": errorMsg})
	}
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	quoted, _ := json.Marshal(ids)
	tw := promtest.StartTickwatchRun(t, fmt.Sprintf("target:\n  url: %s\n  towns: %s\n  timeout: 500ms\npoll:\n  interval: 1s\ndedupe:\n  state_dir: %s\n",
		srv.URL, quoted, t.TempDir()))

	b := newBrowser(t)
	b.open("fleet", tw.URL+"/")
	var got []string
	promtest.Eventually(t, 20*time.Second, "the fleet page to list the towns", func() error {
		b.do("reload", chromedp.Reload())
		var err error
		got, err = b.rows()
		if err == nil && len(got) != len(ids) {
			err = fmt.Errorf("rows %q", got)
		}
		return err
	})
	if !slices.Contains(got, htmlID) {
		t.Errorf("the HTML id is not shown as text: rows %q", got)
	}
	imgs, err := value(b, chromedp.Evaluate[int](`document.querySelectorAll("img, #towns script").length`))
	title, _ := value(b, chromedp.Title())
	if err != nil || imgs != 0 || title == "pwned" {
		t.Errorf("the fleet page made %d elements of a town id or error (title %q, %v)", imgs, title, err)
	}
	errText, err := value(b, chromedp.Evaluate[string](`[...document.querySelectorAll("#towns td.err")].map(td => td.textContent).join("\n")`))
	if err != nil || !strings.Contains(errText, errorMsg) {
		t.Errorf("the error text is not shown as text: %q (%v)", errText, err)
	}

	// Each link leads to the town's own page, whatever its id holds.
	for _, id := range ids {
		b.open("town", tw.URL+statuspage.TownPath(id))
		shown, err := value(b, chromedp.TextContent(chromedp.CSS(`#town-id`)))
		title, _ := value(b, chromedp.Title())
		if err != nil || shown != id || title == "pwned" {
			t.Errorf("page of %q shows id %q, title %q", id, shown, title)
		}
	}
	b.open("town", tw.URL+statuspage.TownPath(htmlID))
	errText, _ = value(b, chromedp.TextContent(chromedp.CSS(`#errors`)))
	scripts, err := value(b, chromedp.Evaluate[int](`document.scripts.length`))
	if err != nil || !strings.Contains(errText, errorMsg) || scripts != 0 {
		t.Errorf("recent errors %q, %d scripts on the page", errText, scripts)
	}
}

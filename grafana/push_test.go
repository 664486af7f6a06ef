package grafana

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/tickwatch/tickwatch/config"
)

const testToken = "glsa_s3cr3t-token"

type fakeFolder struct {
	ID    int    `json:"id"`
	UID   string `json:"uid"`
	Title string `json:"title"`
	URL   string `json:"url"`
}

// saveCommand is the body of POST /api/dashboards/db as Grafana decodes it
// (Go's decoder, so field names match case-insensitively as in Grafana).
type saveCommand struct {
	Dashboard map[string]any `json:"dashboard"`
	FolderID  int            `json:"folderId"`
	FolderUID string         `json:"folderUid"`
	Overwrite bool           `json:"overwrite"`
}

type failure struct {
	status      int
	contentType string
	body        string
}

// fakeGrafana speaks the parts of Grafana's HTTP API that Push uses: bearer
// auth, folders by uid, and saving a dashboard with overwrite and versions.
type fakeGrafana struct {
	mu        sync.Mutex
	folders   map[string]fakeFolder
	versions  map[string]int
	saves     []saveCommand
	calls     []string
	authSeen  []string
	failSave  *failure
	nextFolde int
}

func newFakeGrafana() *fakeGrafana {
	return &fakeGrafana{folders: map[string]fakeFolder{}, versions: map[string]int{}, nextFolde: 7}
}

func (g *fakeGrafana) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.calls = append(g.calls, r.Method+" "+r.URL.Path)
	g.authSeen = append(g.authSeen, r.Header.Get("Authorization"))
	reply := func(status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(v)
	}
	if r.Header.Get("Authorization") != "Bearer "+testToken {
		reply(http.StatusUnauthorized, map[string]string{"message": "Unauthorized"})
		return
	}
	switch {
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/api/folders/"):
		f, ok := g.folders[strings.TrimPrefix(r.URL.Path, "/api/folders/")]
		if !ok {
			reply(http.StatusNotFound, map[string]string{"message": "folder not found", "status": "not-found"})
			return
		}
		reply(http.StatusOK, f)
	case r.Method == http.MethodPost && r.URL.Path == "/api/folders":
		var f fakeFolder
		if err := json.NewDecoder(r.Body).Decode(&f); err != nil || f.UID == "" {
			reply(http.StatusBadRequest, map[string]string{"message": "bad request data"})
			return
		}
		if _, ok := g.folders[f.UID]; ok {
			reply(http.StatusConflict, map[string]string{"message": "a folder with the same uid already exists"})
			return
		}
		g.nextFolde++
		f.ID, f.URL = g.nextFolde, "/dashboards/f/"+f.UID
		g.folders[f.UID] = f
		reply(http.StatusOK, f)
	case r.Method == http.MethodPost && r.URL.Path == "/api/dashboards/db":
		if g.failSave != nil {
			w.Header().Set("Content-Type", g.failSave.contentType)
			w.WriteHeader(g.failSave.status)
			fmt.Fprint(w, g.failSave.body)
			return
		}
		var cmd saveCommand
		if err := json.NewDecoder(r.Body).Decode(&cmd); err != nil {
			reply(http.StatusBadRequest, map[string]string{"message": "bad request data"})
			return
		}
		g.saves = append(g.saves, cmd)
		uid, _ := cmd.Dashboard["uid"].(string)
		if g.versions[uid] > 0 && !cmd.Overwrite {
			reply(http.StatusPreconditionFailed, map[string]string{"message": "A dashboard with the same uid already exists", "status": "name-exists"})
			return
		}
		g.versions[uid]++
		reply(http.StatusOK, map[string]any{"id": 1, "uid": uid, "url": "/d/" + uid + "/reconciler",
			"status": "success", "version": g.versions[uid], "slug": "reconciler"})
	default:
		reply(http.StatusNotFound, map[string]string{"message": "Not found"})
	}
}

func TestPushCreatesFolderAndOverwrites(t *testing.T) {
	dash, err := DashboardJSON(config.DefaultThresholds())
	if err != nil {
		t.Fatal(err)
	}
	g := newFakeGrafana()
	srv := httptest.NewServer(g)
	defer srv.Close()
	target := PushTarget{URL: srv.URL, Token: testToken, Folder: "tickwatch"}

	for version := 1; version <= 2; version++ {
		res, err := Push(context.Background(), target, dash)
		if err != nil {
			t.Fatalf("push %d: %v", version, err)
		}
		want := PushResult{UID: UID, URL: "/d/" + UID + "/reconciler", Version: version}
		if res != want {
			t.Errorf("push %d: result %+v, want %+v", version, res, want)
		}
	}
	wantCalls := []string{
		"GET /api/folders/tickwatch", "POST /api/folders", "POST /api/dashboards/db",
		"GET /api/folders/tickwatch", "POST /api/dashboards/db",
	}
	if strings.Join(g.calls, ", ") != strings.Join(wantCalls, ", ") {
		t.Errorf("calls:\n got %v\nwant %v", g.calls, wantCalls)
	}
	for i, a := range g.authSeen {
		if a != "Bearer "+testToken {
			t.Errorf("call %d Authorization = %q", i, a)
		}
	}
	if f := g.folders["tickwatch"]; f.Title != "tickwatch" || f.ID != 8 {
		t.Errorf("created folder %+v, want uid and title tickwatch, id 8", f)
	}
	var sent map[string]any
	if err := json.Unmarshal(dash, &sent); err != nil {
		t.Fatal(err)
	}
	sent["id"] = float64(0) // the SDK always sends id 0, so Grafana matches on uid
	for i, s := range g.saves {
		if s.FolderID != 8 || !s.Overwrite {
			t.Errorf("save %d: folderId %d overwrite %v, want 8 and true", i, s.FolderID, s.Overwrite)
		}
		got, _ := json.Marshal(s.Dashboard)
		want, _ := json.Marshal(sent)
		if string(got) != string(want) {
			t.Errorf("save %d: dashboard body differs from the generated JSON", i)
		}
	}
}

func TestPushIntoGeneralFolderSkipsFolderCalls(t *testing.T) {
	g := newFakeGrafana()
	srv := httptest.NewServer(g)
	defer srv.Close()
	_, err := Push(context.Background(), PushTarget{URL: srv.URL + "/", Token: testToken}, []byte(`{"uid":"x","title":"X"}`))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(g.calls, ",") != "POST /api/dashboards/db" || g.saves[0].FolderID != 0 {
		t.Errorf("calls %v, folderId %d; want one save into folder 0", g.calls, g.saves[0].FolderID)
	}
}

func TestPushErrors(t *testing.T) {
	dash := []byte(`{"uid":"tickwatch-reconciler","title":"Reconciler"}`)
	for _, tc := range []struct {
		name    string
		token   string
		fail    *failure
		wantErr string
	}{
		{"version mismatch", testToken,
			&failure{412, "application/json", `{"message":"The dashboard has been changed by someone else","status":"version-mismatch"}`},
			`save dashboard into folder "tickwatch": grafana POST /api/dashboards/db: 412 Precondition Failed: The dashboard has been changed by someone else (version-mismatch)`},
		{"server error", testToken,
			&failure{500, "application/json", `{"message":"Internal server error"}`},
			`save dashboard into folder "tickwatch": grafana POST /api/dashboards/db: 500 Internal Server Error: Internal server error`},
		{"server error without message", testToken,
			&failure{500, "application/json", `{"traceID":"abc"}`},
			`save dashboard into folder "tickwatch": grafana POST /api/dashboards/db: 500 Internal Server Error: no message: "{\"traceID\":\"abc\"}"`},
		{"proxy error page", testToken,
			&failure{502, "text/html", "<html>\n<body>Bad   Gateway</body></html>"},
			`save dashboard into folder "tickwatch": grafana POST /api/dashboards/db: 502 Bad Gateway: answer is not JSON: "<html> <body>Bad Gateway</body></html>"`},
		{"ok status, not JSON", testToken,
			&failure{200, "text/html", "<html>login</html>"},
			`save dashboard into folder "tickwatch": grafana POST /api/dashboards/db: 200 OK: answer is not JSON: "<html>login</html>"`},
		{"empty body", testToken,
			&failure{503, "text/plain", ""},
			`save dashboard into folder "tickwatch": grafana POST /api/dashboards/db: 503 Service Unavailable: answer is not JSON: (empty body)`},
		{"wrong token", "glsa_wrong",
			nil,
			`look up folder "tickwatch": grafana GET /api/folders/tickwatch: 401 Unauthorized: Unauthorized`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newFakeGrafana()
			g.failSave = tc.fail
			srv := httptest.NewServer(g)
			defer srv.Close()
			_, err := Push(context.Background(), PushTarget{URL: srv.URL, Token: tc.token, Folder: "tickwatch"}, dash)
			if err == nil || err.Error() != tc.wantErr {
				t.Fatalf("err =\n %v\nwant\n %s", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), tc.token) {
				t.Errorf("error leaks the token: %v", err)
			}
		})
	}
}

func TestPushRejectsBadInputBeforeCallingGrafana(t *testing.T) {
	g := newFakeGrafana()
	srv := httptest.NewServer(g)
	defer srv.Close()
	closed := httptest.NewServer(g)
	closed.Close()
	for _, tc := range []struct {
		name    string
		target  PushTarget
		wantErr string
	}{
		{"no scheme", PushTarget{URL: "grafana:3000"}, `grafana url "grafana:3000": want http(s)://host[:port][/path]`},
		{"empty url", PushTarget{}, `grafana url "": want http(s)://host[:port][/path]`},
		{"folder with a slash", PushTarget{URL: srv.URL, Folder: "a/b"}, `grafana folder "a/b": a folder uid is 1-40 letters, digits, '-' or '_'`},
		{"nobody listening", PushTarget{URL: closed.URL, Token: testToken}, `save dashboard into folder "General": Post "` + closed.URL + `/api/dashboards/db": dial tcp`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Push(context.Background(), tc.target, []byte(`{}`))
			if err == nil || !strings.HasPrefix(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want prefix %s", err, tc.wantErr)
			}
		})
	}
	if len(g.calls) != 0 {
		t.Errorf("Grafana was called: %v", g.calls)
	}
}

func TestReadTokenFile(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, content, want, wantErr string
	}{
		{"trailing newline", testToken + "\n", testToken, ""},
		{"surrounding space", "  " + testToken + " \r\n", testToken, ""},
		{"empty", "\n", "", "is empty"},
		{"two lines", "a\nb\n", "", "holds more than one line"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_"))
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := ReadTokenFile(path)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || strings.Contains(err.Error(), testToken) {
					t.Fatalf("err = %v, want %q without the token", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
	if _, err := ReadTokenFile(filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing file: err = %v", err)
	}
}

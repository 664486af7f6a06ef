package simtown

import (
	"net/http"
	"testing"
	"time"
)

func TestOptionsRejected(t *testing.T) {
	tests := []struct {
		opts Options
		want string
	}{
		{Options{Towns: -1}, "simtown: towns -1 out of range [0, 100000]"},
		{Options{FaultRate: 2}, "simtown: fault rate 2 out of range [0, 1]"},
		{Options{IdleInterval: 90 * time.Second}, "simtown: idle interval 1m30s is not one of Gastown's: 60s or 5m"},
		{Options{TownIDs: "guid"}, `simtown: town id style "guid" is not "" or "uuid"`},
		{Options{Version: "next"}, `simtown: version "next" is not "" or "later"`},
		{Options{Access: Access{ClientID: "id"}}, "simtown: an Access client id needs a client secret"},
		{Options{Access: Access{ClientSecret: "s"}}, "simtown: an Access client secret needs a client id"},
	}
	for _, tt := range tests {
		f, err := New(tt.opts)
		if err == nil {
			f.Close()
		}
		if err == nil || err.Error() != tt.want {
			t.Errorf("%+v: %v, want %q", tt.opts, err, tt.want)
		}
	}
}

// A data directory written before beads had created_by opens, and keeps
// its history.
func TestOpensDatabaseWithoutCreatedBy(t *testing.T) {
	dir := t.TempDir()
	f, c := newFleet(t, Options{Dir: dir})
	run(t, f, c, 10*time.Second)
	tw := f.byID["town-01"]
	for _, tbl := range []string{"beads", "checkpoint_beads"} {
		if err := tw.st.exec(`ALTER TABLE ` + tbl + ` DROP COLUMN created_by`); err != nil {
			t.Fatal(err)
		}
	}
	before := digests(t, tw)["beads"]
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	g, err := New(Options{Towns: 1, Dir: dir, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if _, err := g.runDue(c.Advance(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if code, body := call(t, g.Handler(), http.MethodGet, "/debug/towns/town-01/status", ""); code != 200 {
		t.Fatalf("status: %d %s", code, body)
	}
	if n, err := g.byID["town-01"].st.count(`SELECT COUNT(*) FROM beads WHERE created_by IS NULL`); err != nil || n == 0 || before == "0 rows" {
		t.Errorf("beads %s before; %d without created_by after, err %v", before, n, err)
	}
}

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckConfig(t *testing.T) {
	t.Setenv("SENTRY_DSN", "")
	dir := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	write("towns.json", `{"towns": ["town-b", "town-c", "town-d"]}`)
	write("bad-towns.yml", "- a\n- ''\n")
	write("sentry-token", "sntrys_tokensecret\n")
	write("empty-token", "\n")

	for _, tc := range []struct {
		name, content       string
		wantOut, wantStderr string // "F" stands for the config's path, "D" for its directory
		wantErr             string
	}{
		{
			name:    "ok",
			content: "target:\n  url: http://admin:hunter2@127.0.0.1:8788\n  towns: [town-a, town-b]\n  towns_file: towns.json\nshard: {index: 1, count: 3}\nsentry:\n  dsn: https://dsnkey@sentry.example/3\nmetrics:\n  dry_run_detail: true\n  agents_by_status: true\n",
			wantOut: "F: ok\ntowns: 2 listed + 3 in D/towns.json = 4 distinct; target: http://xxxxx@127.0.0.1:8788; shard: 1 of 3\noptional metrics on: agents_by_status, dry_run_detail\n",
		},
		{
			name:    "defaults",
			content: "",
			wantOut: "F: ok\ntowns: 0 listed = 0 distinct; target: embedded simtown fleet; shard: 0 of 1\noptional metrics on: none (the series the dashboard and the alert rules read)\n",
		},
		{
			name:       "problems",
			content:    "poll:\n  intervall: 5s\n  interval: 0\ntarget:\n  url: 127.0.0.1:8788\n",
			wantStderr: "F:2: unknown key \"intervall\" in poll; did you mean \"interval\"?\nF:3: poll.interval must be > 0\nF:5: target.url \"127.0.0.1:8788\" has no scheme; write http://127.0.0.1:8788\n",
			wantErr:    "F: 3 problems",
		},
		{
			name:       "unknown metrics group",
			content:    "metrics:\n  beads: true\n",
			wantStderr: "F:2: unknown key \"beads\" in metrics\n",
			wantErr:    "F: 1 problem",
		},
		{
			name:       "bad towns file",
			content:    "target:\n  towns_file: bad-towns.yml\n",
			wantStderr: "D/bad-towns.yml:2: town id is empty\n",
			wantErr:    "F: 1 problem",
		},
		{
			name:    "with a Sentry token",
			content: "sentry:\n  dsn: https://dsnkey@sentry.example/3\n  auth_token_file: sentry-token\n  organization: acme\n",
			wantOut: "F: ok\ntowns: 0 listed = 0 distinct; target: embedded simtown fleet; shard: 0 of 1\noptional metrics on: none (the series the dashboard and the alert rules read)\n",
		},
		{
			name:    "empty token file",
			content: "sentry:\n  auth_token_file: empty-token\n  organization: acme\n",
			wantErr: "F: sentry.auth_token_file: D/empty-token is empty",
		},
		{
			name:    "missing credentials file",
			content: "target:\n  url: http://127.0.0.1:8788\n  http_client:\n    authorization:\n      credentials_file: secret\n",
			wantErr: "F: target.http_client.authorization.credentials_file: open D/secret: no such file or directory",
		},
		{
			name:    "with a credentials file",
			content: "target:\n  url: http://127.0.0.1:8788\n  http_client:\n    authorization:\n      credentials_file: sentry-token\n",
			wantOut: "F: ok\ntowns: 0 listed = 0 distinct; target: http://127.0.0.1:8788; shard: 0 of 1\noptional metrics on: none (the series the dashboard and the alert rules read)\n",
		},
		{
			name:    "missing towns file",
			content: "target:\n  towns_file: absent.yml\n",
			wantErr: "F: target.towns_file: read towns file: open D/absent.yml: no such file or directory",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := write("tickwatch.yml", tc.content)
			expand := func(s string) string {
				s = strings.ReplaceAll("\n"+s, "\nF", "\n"+path)[1:]
				return strings.ReplaceAll(s, "D/", dir+"/")
			}
			var out, stderr bytes.Buffer
			err := checkConfig(&out, &stderr, path)
			if got, want := out.String(), expand(tc.wantOut); got != want {
				t.Errorf("stdout:\n%s\nwant:\n%s", got, want)
			}
			if got, want := stderr.String(), expand(tc.wantStderr); got != want {
				t.Errorf("stderr:\n%s\nwant:\n%s", got, want)
			}
			gotErr := ""
			if err != nil {
				gotErr = err.Error()
			}
			if want := expand(tc.wantErr); gotErr != want {
				t.Errorf("error = %q, want %q", gotErr, want)
			}
			for _, secret := range []string{"hunter2", "dsnkey", "tokensecret"} {
				if strings.Contains(out.String()+stderr.String()+gotErr, secret) {
					t.Errorf("output shows secret %q", secret)
				}
			}
		})
	}
}

func TestCheckConfigPath(t *testing.T) {
	for _, tc := range []struct {
		flag, arg, want, wantErr string
	}{
		{flag: "a.yml", want: "a.yml"},
		{arg: "b.yml", want: "b.yml"},
		{flag: "a.yml", arg: "a.yml", want: "a.yml"},
		{flag: "a.yml", arg: "b.yml", wantErr: "two files named (--config.file=a.yml and b.yml); check one at a time"},
		{wantErr: "no file to check: pass --config.file=FILE or FILE"},
	} {
		got, err := checkConfigPath(tc.flag, tc.arg)
		gotErr := ""
		if err != nil {
			gotErr = err.Error()
		}
		if got != tc.want || gotErr != tc.wantErr {
			t.Errorf("checkConfigPath(%q, %q) = %q, %q; want %q, %q", tc.flag, tc.arg, got, gotErr, tc.want, tc.wantErr)
		}
	}
}

// The exit code main gives for a good and a bad file, through the real
// command line.
func TestCheckConfigExitCode(t *testing.T) {
	t.Setenv("SENTRY_DSN", "")
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yml")
	bad := filepath.Join(dir, "bad.yml")
	if err := os.WriteFile(good, []byte("poll:\n  interval: 10s\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("poll:\n  interval: 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{"check-config", good}, 0},
		{[]string{"check-config", "--config.file=" + good}, 0},
		{[]string{"check-config", bad}, 1},
		{[]string{"check-config", filepath.Join(dir, "absent.yml")}, 1},
	} {
		if got := run(tc.args); got != tc.want {
			t.Errorf("tickwatch %s exited %d, want %d", strings.Join(tc.args, " "), got, tc.want)
		}
	}
}

package grafana

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/grafana-tools/sdk"
)

// PushTarget is the Grafana to push to.
type PushTarget struct {
	URL string
	// Token is a service account token, sent as "Authorization: Bearer".
	// The SDK treats a "user:password" value as basic auth instead.
	Token string
	// Folder is the uid (and, when it has to be created, the title) of the
	// folder to put the dashboard in; empty means the General folder.
	Folder string
	// HTTPClient defaults to one with a 30 s timeout.
	HTTPClient *http.Client
}

// PushResult is what Grafana answered to the save.
type PushResult struct {
	UID, URL string
	Version  int
}

// Grafana's rule for uids.
var uidPattern = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,40}$`)

// Push saves the dashboard JSON into Grafana through the SDK's client,
// overwriting the previous version, in the folder, created if missing.
func Push(ctx context.Context, target PushTarget, dashboard []byte) (PushResult, error) {
	u, err := url.Parse(target.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return PushResult{}, fmt.Errorf("grafana url %q: want http(s)://host[:port][/path]", target.URL)
	}
	if target.Folder != "" && !uidPattern.MatchString(target.Folder) {
		return PushResult{}, fmt.Errorf("grafana folder %q: a folder uid is 1-40 letters, digits, '-' or '_'", target.Folder)
	}
	hc := &http.Client{Timeout: 30 * time.Second}
	if target.HTTPClient != nil {
		copied := *target.HTTPClient
		hc = &copied
	}
	next := hc.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	hc.Transport = checkedTransport{next: next}
	client, err := sdk.NewClient(target.URL, target.Token, hc)
	if err != nil {
		return PushResult{}, fmt.Errorf("grafana url %q: %w", target.URL, err)
	}

	folderID := sdk.DefaultFolderId
	if target.Folder != "" {
		f, err := ensureFolder(ctx, client, target.Folder)
		if err != nil {
			return PushResult{}, err
		}
		folderID = f.ID
	}
	// The SDK predates folderUid: it sends the folder's numeric id, which
	// Grafana 11-13 still resolve (deprecated, not removed).
	status, err := client.SetRawDashboardWithParam(ctx, sdk.RawBoardRequest{
		Dashboard:  dashboard,
		Parameters: sdk.SetDashboardParams{FolderID: folderID, Overwrite: true},
	})
	if err != nil {
		folder := target.Folder
		if folder == "" {
			folder = "General"
		}
		return PushResult{}, fmt.Errorf("save dashboard into folder %q: %w", folder, unwrap(err))
	}
	res := PushResult{}
	if status.UID != nil {
		res.UID = *status.UID
	}
	if status.URL != nil {
		res.URL = *status.URL
	}
	if status.Version != nil {
		res.Version = *status.Version
	}
	return res, nil
}

func ensureFolder(ctx context.Context, client *sdk.Client, uid string) (sdk.Folder, error) {
	f, err := client.GetFolderByUID(ctx, uid)
	if err == nil {
		return f, nil
	}
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusNotFound {
		return sdk.Folder{}, fmt.Errorf("look up folder %q: %w", uid, unwrap(err))
	}
	f, err = client.CreateFolder(ctx, sdk.Folder{UID: uid, Title: uid})
	if err != nil {
		return sdk.Folder{}, fmt.Errorf("create folder %q: %w", uid, unwrap(err))
	}
	return f, nil
}

// unwrap drops the *url.Error around an *APIError: its message already
// names the method and path, and the URL may carry basic-auth credentials.
func unwrap(err error) error {
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		return apiErr
	}
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		return fmt.Errorf("%s %q: %w", urlErr.Op, redact(urlErr.URL), urlErr.Err)
	}
	return err
}

func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(url)"
	}
	return u.Redacted()
}

// ReadTokenFile reads a Grafana token from a file, without its trailing newline.
func ReadTokenFile(path string) (string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("grafana token file: %w", err)
	}
	token := strings.TrimSpace(string(raw))
	if token == "" {
		return "", fmt.Errorf("grafana token file %s is empty", path)
	}
	if strings.ContainsAny(token, "\r\n") {
		return "", fmt.Errorf("grafana token file %s holds more than one line", path)
	}
	return token, nil
}

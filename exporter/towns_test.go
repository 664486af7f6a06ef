package exporter

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestTownSourceKeepsLastGoodListOnError(t *testing.T) {
	answer, fail := []string{"b", "a", "a"}, false
	src := NewTownSource(nil, "", func(context.Context) ([]string, error) {
		if fail {
			return nil, errors.New("connection refused")
		}
		return answer, nil
	})
	ids, err := src.Towns(context.Background())
	if err != nil || !slices.Equal(ids, []string{"a", "b"}) {
		t.Fatalf("discovered %v, %v", ids, err)
	}
	fail = true
	ids, err = src.Towns(context.Background())
	if err == nil || err.Error() != "discover towns: connection refused" || !slices.Equal(ids, []string{"a", "b"}) {
		t.Errorf("on failure: %v, %v; want the last list and the error", ids, err)
	}

	file := filepath.Join(t.TempDir(), "towns.yml")
	os.WriteFile(file, []byte("- x\n"), 0o644)
	src = NewTownSource([]string{"s"}, file, nil)
	if ids, err := src.Towns(context.Background()); err != nil || !slices.Equal(ids, []string{"s", "x"}) {
		t.Fatalf("static + file: %v, %v", ids, err)
	}
	os.Remove(file)
	if ids, err := src.Towns(context.Background()); err == nil || !slices.Equal(ids, []string{"s", "x"}) {
		t.Errorf("file gone: %v, %v; want the last list and the error", ids, err)
	}
}

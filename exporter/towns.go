package exporter

import (
	"context"
	"fmt"
	"hash/fnv"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/tickwatch/tickwatch/config"
)

// TownSource yields the ids to watch: the static list, the towns file
// (re-read when it changes) and, when neither names any, the ids the target
// lists itself (simtown's GET /debug/towns). Ids from nowhere else are never
// polled: any id wakes a town on a Gastown worker.
type TownSource struct {
	static   []string
	file     string
	discover func(context.Context) ([]string, error)

	mu         sync.Mutex
	fileStat   fileStamp
	fromFile   []string
	discovered []string
}

type fileStamp struct {
	mod  time.Time
	size int64
}

func NewTownSource(static []string, file string, discover func(context.Context) ([]string, error)) *TownSource {
	return &TownSource{static: static, file: file, discover: discover}
}

// Towns returns the current ids, sorted and unique. When the towns file or
// the discovery call fails it keeps the ids it had last and returns the
// error too: a passing failure must not drop every town's state.
func (s *TownSource) Towns(ctx context.Context) ([]string, error) {
	var err error
	ids := append([]string(nil), s.static...)
	if s.file != "" {
		var fromFile []string
		fromFile, err = s.readFile()
		ids = append(ids, fromFile...)
	}
	if s.file == "" && len(s.static) == 0 && s.discover != nil {
		ids, err = s.discover(ctx)
		s.mu.Lock()
		if err != nil {
			err = fmt.Errorf("discover towns: %w", err)
			ids = s.discovered
		} else {
			s.discovered = ids
		}
		s.mu.Unlock()
	}
	return unique(append([]string(nil), ids...)), err
}

func (s *TownSource) readFile() ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fi, err := os.Stat(s.file)
	if err != nil {
		return s.fromFile, fmt.Errorf("towns file: %w", err)
	}
	stamp := fileStamp{fi.ModTime(), fi.Size()}
	if stamp == s.fileStat && s.fromFile != nil {
		return s.fromFile, nil
	}
	ids, err := config.ReadTownsFile(s.file)
	if err != nil {
		return s.fromFile, err
	}
	s.fileStat, s.fromFile = stamp, ids
	return ids, nil
}

func unique(ids []string) []string {
	sort.Strings(ids)
	out := ids[:0]
	for i, id := range ids {
		if id != "" && (i == 0 || id != ids[i-1]) {
			out = append(out, id)
		}
	}
	return out
}

// Owns reports whether this shard owns the town: a stable hash of the id
// modulo the shard count, so every replica agrees without talking.
func Owns(town string, sh config.Shard) bool {
	if sh.Count <= 1 {
		return true
	}
	return townHash(town)%uint64(sh.Count) == uint64(sh.Index)
}

func townHash(town string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(town))
	return h.Sum64()
}

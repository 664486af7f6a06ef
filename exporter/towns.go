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

// Owns reports whether this shard owns the town: every replica computes the
// same owner from the id alone, so they agree without talking.
func Owns(town string, sh config.Shard) bool {
	if sh.Count <= 1 {
		return true
	}
	return ShardOf(town, sh.Count) == sh.Index
}

// ShardOf is the shard that owns a town among count: the jump consistent hash
// (Lamping and Veach, 2014) of the town id's FNV-1a hash. Unlike hash mod
// count, a resize moves only the towns that must move: growing from n to n+1
// shards hands about 1/(n+1) of the towns to the new shard and moves none
// between the others; shrinking spreads only the removed shard's towns.
func ShardOf(town string, count int) int {
	if count <= 1 {
		return 0
	}
	return jump(townHash(town), count)
}

// jump maps key to a bucket in [0, buckets). It steps through the buckets the
// key would move to as the count grows, with a 64-bit linear congruential
// generator seeded by the key, and stops at the last one below buckets.
func jump(key uint64, buckets int) int {
	b, j := int64(-1), int64(0)
	for j < int64(buckets) {
		b = j
		key = key*2862933555777941757 + 1
		j = int64(float64(b+1) * (float64(int64(1)<<31) / float64((key>>33)+1)))
	}
	return int(b)
}

func townHash(town string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(town))
	return h.Sum64()
}

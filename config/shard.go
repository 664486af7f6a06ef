package config

import (
	"fmt"
	"strconv"
	"strings"
)

// Environment variables that set the shard outside the config file, so that
// one config serves every pod of a StatefulSet.
const (
	EnvShardIndex = "TICKWATCH_SHARD_INDEX"
	EnvShardCount = "TICKWATCH_SHARD_COUNT"
)

// IndexFromHostname is the shard index value that takes the ordinal at the
// end of the host name: a StatefulSet pod tickwatch-2 is shard 2.
const IndexFromHostname = "hostname"

// ShardOverride is what the command line or the environment says of the
// shard. What it sets wins over the config file's shard section, also on a
// reload, so the index a pod was started with stays its index.
type ShardOverride struct {
	Index, Count         *int
	IndexFrom, CountFrom string // where each was set, for errors and the log
}

// ResolveShard reads the shard index and count from the flags (flagIndex,
// flagCount: "" when not given), else from TICKWATCH_SHARD_INDEX and
// TICKWATCH_SHARD_COUNT. An index may be a number or "hostname". A variable
// that is set but empty is an error: it is what a downward-API reference to
// a missing pod label gives, and silently running as shard 0 would watch
// another pod's towns.
func ResolveShard(flagIndex, flagCount string, lookupEnv func(string) (string, bool), hostname func() (string, error)) (ShardOverride, error) {
	var o ShardOverride
	indexHint := fmt.Sprintf("a downward-API reference to the apps.kubernetes.io/pod-index label gives that before Kubernetes 1.28: use --shard.index=%s there", IndexFromHostname)
	if v, from, ok, err := shardSetting("--shard.index", flagIndex, EnvShardIndex, indexHint, lookupEnv); err != nil {
		return o, err
	} else if ok {
		if v == IndexFromHostname {
			host, err := hostname()
			if err != nil {
				return o, fmt.Errorf("%s=%s: %w", from, v, err)
			}
			n, err := Ordinal(host)
			if err != nil {
				return o, fmt.Errorf("%s=%s: %w", from, v, err)
			}
			o.Index, o.IndexFrom = &n, fmt.Sprintf("the host name %s", host)
		} else {
			n, err := strconv.Atoi(v)
			if err != nil {
				return o, fmt.Errorf("%s=%q is not a shard index: give a number, or %q for the ordinal of a StatefulSet pod", from, v, IndexFromHostname)
			}
			o.Index, o.IndexFrom = &n, from
		}
	}
	if v, from, ok, err := shardSetting("--shard.count", flagCount, EnvShardCount, "give the number of replicas, or unset it to keep shard.count of the config file", lookupEnv); err != nil {
		return o, err
	} else if ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			return o, fmt.Errorf("%s=%q is not a shard count", from, v)
		}
		o.Count, o.CountFrom = &n, from
	}
	return o, nil
}

// shardSetting is a flag's value, else its environment variable's. hint
// says what to do about a variable that is set but empty.
func shardSetting(flag, flagValue, env, hint string, lookupEnv func(string) (string, bool)) (value, from string, ok bool, err error) {
	if flagValue != "" {
		return strings.TrimSpace(flagValue), flag, true, nil
	}
	v, set := lookupEnv(env)
	if !set {
		return "", "", false, nil
	}
	if strings.TrimSpace(v) == "" {
		return "", "", false, fmt.Errorf("%s is set but empty (%s)", env, hint)
	}
	return strings.TrimSpace(v), env, true, nil
}

// Ordinal is the StatefulSet ordinal at the end of a pod's host name
// ("tickwatch-2" is 2; a FQDN's first label counts).
func Ordinal(host string) (int, error) {
	name, _, _ := strings.Cut(host, ".")
	i := strings.LastIndexByte(name, '-')
	n, err := strconv.Atoi(name[i+1:])
	if i < 0 || err != nil || n < 0 || strings.HasPrefix(name[i+1:], "+") {
		return 0, fmt.Errorf("host name %q does not end in -<ordinal> like a StatefulSet pod's", host)
	}
	return n, nil
}

// Apply puts the override into c's shard section and checks the result,
// naming where each number came from.
func (o ShardOverride) Apply(c *Config) error {
	indexFrom, countFrom := "shard.index of the config file", "shard.count of the config file"
	if o.Index != nil {
		c.Shard.Index, indexFrom = *o.Index, o.IndexFrom
	}
	if o.Count != nil {
		c.Shard.Count, countFrom = *o.Count, o.CountFrom
	}
	s := c.Shard
	switch {
	case s.Count < 1:
		return fmt.Errorf("shard count %d (from %s) must be at least 1", s.Count, countFrom)
	case s.Index < 0 || s.Index >= s.Count:
		return fmt.Errorf("shard index %d (from %s) is outside 0..%d: shard count %d (from %s) has no such shard",
			s.Index, indexFrom, s.Count-1, s.Count, countFrom)
	}
	return nil
}

// Set reports whether the override sets anything.
func (o ShardOverride) Set() bool { return o.Index != nil || o.Count != nil }

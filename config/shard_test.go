package config

import (
	"errors"
	"strings"
	"testing"
)

func TestResolveShard(t *testing.T) {
	host := func(name string) func() (string, error) { return func() (string, error) { return name, nil } }
	env := func(kv ...string) func(string) (string, bool) {
		return func(k string) (string, bool) {
			for i := 0; i < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1], true
				}
			}
			return "", false
		}
	}
	for _, tc := range []struct {
		name                 string
		flagIndex, flagCount string
		env                  func(string) (string, bool)
		host                 func() (string, error)
		fileShard            Shard
		want                 Shard
		wantErr              string
	}{
		{name: "nothing set keeps the file", env: env(), fileShard: Shard{Index: 1, Count: 2}, want: Shard{Index: 1, Count: 2}},
		{name: "pod-index label through the environment", env: env(EnvShardIndex, "2"), fileShard: Shard{Count: 3}, want: Shard{Index: 2, Count: 3}},
		{name: "flags win over the environment", flagIndex: "1", flagCount: "4", env: env(EnvShardIndex, "2", EnvShardCount, "3"),
			fileShard: Shard{Count: 3}, want: Shard{Index: 1, Count: 4}},
		{name: "count from the environment", env: env(EnvShardCount, "4", EnvShardIndex, "3"), fileShard: Shard{Count: 3}, want: Shard{Index: 3, Count: 4}},
		{name: "ordinal of the host name", flagIndex: "hostname", env: env(), host: host("tickwatch-2"), fileShard: Shard{Count: 3}, want: Shard{Index: 2, Count: 3}},
		{name: "ordinal of a fully qualified host name", env: env(EnvShardIndex, "hostname"), host: host("tickwatch-10.tickwatch.mon.svc.cluster.local"),
			fileShard: Shard{Count: 12}, want: Shard{Index: 10, Count: 12}},
		{name: "ordinal out of range", env: env(EnvShardIndex, "3"), fileShard: Shard{Count: 3},
			wantErr: "shard index 3 (from TICKWATCH_SHARD_INDEX) is outside 0..2: shard count 3 (from shard.count of the config file) has no such shard"},
		{name: "host name ordinal out of range", flagIndex: "hostname", env: env(), host: host("tickwatch-3"), fileShard: Shard{Count: 3},
			wantErr: "shard index 3 (from the host name tickwatch-3) is outside 0..2"},
		{name: "count zero", flagCount: "0", env: env(), fileShard: Shard{Count: 3},
			wantErr: "shard count 0 (from --shard.count) must be at least 1"},
		{name: "negative index", flagIndex: "-1", env: env(), fileShard: Shard{Count: 3}, wantErr: "shard index -1 (from --shard.index) is outside 0..2"},
		{name: "empty label", env: env(EnvShardIndex, ""), fileShard: Shard{Count: 3},
			wantErr: "TICKWATCH_SHARD_INDEX is set but empty (a downward-API reference to the apps.kubernetes.io/pod-index label gives that before Kubernetes 1.28: use --shard.index=hostname there)"},
		{name: "empty count", env: env(EnvShardCount, " "), fileShard: Shard{Count: 3},
			wantErr: "TICKWATCH_SHARD_COUNT is set but empty (give the number of replicas, or unset it to keep shard.count of the config file)"},
		{name: "not a number", env: env(EnvShardIndex, "two"), fileShard: Shard{Count: 3},
			wantErr: `TICKWATCH_SHARD_INDEX="two" is not a shard index: give a number, or "hostname"`},
		{name: "host name without an ordinal", flagIndex: "hostname", env: env(), host: host("tickwatch"), fileShard: Shard{Count: 3},
			wantErr: `--shard.index=hostname: host name "tickwatch" does not end in -<ordinal>`},
		{name: "host name with a signed ordinal", flagIndex: "hostname", env: env(), host: host("tickwatch-+1"), fileShard: Shard{Count: 3},
			wantErr: "does not end in -<ordinal>"},
		{name: "host name unknown", flagIndex: "hostname", env: env(),
			host:    func() (string, error) { return "", errors.New("uname failed") },
			wantErr: "--shard.index=hostname: uname failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Default()
			cfg.Shard = tc.fileShard
			o, err := ResolveShard(tc.flagIndex, tc.flagCount, tc.env, tc.host)
			if err == nil {
				err = o.Apply(&cfg)
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Shard != tc.want {
				t.Errorf("shard = %+v, want %+v", cfg.Shard, tc.want)
			}
		})
	}
}

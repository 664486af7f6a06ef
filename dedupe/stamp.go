package dedupe

import "time"

// stamp is a wall-clock time in Unix nanoseconds (years 1678 to 2262), 0
// for the zero time. An entry holds four: as time.Time (24 bytes and a
// pointer each) they were over a third of it, and the collector followed
// each pointer. In the state file a stamp is written as a time.Time is, so
// files read either way.
type stamp int64

func stampOf(t time.Time) stamp {
	if t.IsZero() {
		return 0
	}
	return stamp(t.UnixNano())
}

// Time is the stamp as a time in UTC; the zero time for 0.
func (s stamp) Time() time.Time {
	if s == 0 {
		return time.Time{}
	}
	return time.Unix(0, int64(s)).UTC()
}

func (s stamp) IsZero() bool { return s == 0 }

// since is how long before now s was; from the zero stamp, longer than
// any setting.
func (s stamp) since(now stamp) time.Duration { return time.Duration(now - s) }

func (s stamp) add(d time.Duration) stamp { return s + stamp(d) }

func (s stamp) MarshalJSON() ([]byte, error) { return s.Time().MarshalJSON() }

func (s *stamp) UnmarshalJSON(b []byte) error {
	var t time.Time
	if err := t.UnmarshalJSON(b); err != nil {
		return err
	}
	*s = stampOf(t)
	return nil
}

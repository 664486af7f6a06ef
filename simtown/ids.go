package simtown

import (
	"crypto/sha1"
	"fmt"
	"strings"
)

// uuidFor derives a stable UUID-shaped id (version 5 layout) from its parts,
// so the same seed and history give the same ids.
func uuidFor(parts ...string) string { return uuidOf(0x50, parts...) }

// uuidOf hashes the parts into a UUID of the given version nibble.
func uuidOf(version byte, parts ...string) string {
	h := sha1.Sum([]byte(strings.Join(parts, "\x00")))
	h[6] = h[6]&0x0f | version
	h[8] = h[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

// Fault rows have recognisable ids so the simulated world leaves them alone.
const (
	faultAgentPrefix = "fa017"
	faultBeadPrefix  = "b-fault-"
)

func faultAgentID(inv, n int) string {
	return fmt.Sprintf("%s%03d-0000-4000-8000-%012d", faultAgentPrefix, inv, n)
}

func isFaultBead(id string) bool { return strings.HasPrefix(id, faultBeadPrefix) }

// TownID is the id of the i-th town (1-based): town-01, town-02, ...; wide
// enough for the whole fleet so ids sort in fleet order.
func TownID(i, towns int) string {
	w := len(fmt.Sprint(towns))
	if w < 2 {
		w = 2
	}
	return fmt.Sprintf("town-%0*d", w, i)
}

// TownUUID is the id of the i-th town (1-based) with Options.TownIDs
// IDsUUID: a version 4 UUID like Gastown's town ids, derived from the seed
// so the same seed gives the same ids.
func TownUUID(seed int64, i int) string { return uuidOf(0x40, "town", fmt.Sprint(seed), fmt.Sprint(i)) }

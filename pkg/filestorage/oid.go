package filestorage

import (
	"encoding/binary"
	"fmt"

	"github.com/zdkit/zdkit/pkg/tid"
)

// Oid is a ZODB object id: 8 bytes compared as a big-endian uint64.
type Oid uint64

// OidFromBytes reads 8 big-endian bytes; a short slice gives 0.
func OidFromBytes(b []byte) Oid {
	if len(b) < 8 {
		return 0
	}
	return Oid(binary.BigEndian.Uint64(b))
}

// Bytes returns the 8-byte form stored in Data.fs and sent over ZEO.
func (o Oid) Bytes() [8]byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(o))
	return b
}

// Repr is ZODB.utils.oid_repr: "0x" and an even number of hex digits.
func (o Oid) Repr() string { return tid.HexRepr(uint64(o)) }

// Hex is the 16-digit form fsdump prints ("oid=%016x").
func (o Oid) Hex() string { return fmt.Sprintf("%016x", uint64(o)) }

//go:build race

package wire

// raceAllocFactor widens the allocation bound of
// TestDecodeAllocatesWithinCost under -race: the race runtime's
// instrumentation moves more of the decoder's values to the heap (up to
// 1.5x the plain build's allocations was measured), which says nothing
// about what a production runzeo allocates.
const raceAllocFactor = 2

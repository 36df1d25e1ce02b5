//go:build !race

package wire

// raceAllocFactor is 1 without -race: the bound is DecodeCost itself.
const raceAllocFactor = 1

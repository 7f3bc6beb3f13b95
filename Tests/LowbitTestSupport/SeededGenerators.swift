/// The 64-bit linear congruential generator of Knuth's MMIX (the multiplier and increment PCG
/// starts from): small, deterministic and fast. Its low bits are weak, so use the high ones.
public struct LCG64: RandomNumberGenerator, Sendable {
    /// The state; each step multiplies and adds, and ``next()`` returns the new state.
    public var state: UInt64

    /// A generator that starts from `seed`.
    public init(seed: UInt64) { state = seed }

    /// Steps once and returns the whole new state.
    public mutating func next() -> UInt64 {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return state
    }

    /// Steps once and returns the top 31 bits of the state, as a non-negative Int.
    public mutating func nextHigh31() -> Int {
        Int(truncatingIfNeeded: next() >> 33)
    }

    /// A uniform value in `0..<n` from ``nextHigh31()`` (with modulo bias); 0 when `n <= 0`.
    public mutating func below(_ n: Int) -> Int {
        n <= 0 ? 0 : nextHigh31() % n
    }

    /// Steps once and returns the top 24 bits of the state as a Float in [0, 1).
    public mutating func nextUnitFloat() -> Float {
        Float(next() >> 40) / Float(1 << 24)
    }

    /// Steps once and returns the top 53 bits of the state as a Double in the open interval (0, 1).
    public mutating func nextOpenUnitDouble() -> Double {
        (Double(next() >> 11) + 0.5) / Double(1 << 53)
    }
}

/// SplitMix64 (Steele, Lea and Flood), the generator of numpy-side fixture scripts: each output is
/// a strong mix of a counter that advances by the golden-ratio constant.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    /// The counter; ``next()`` advances it, then returns its mix.
    public var state: UInt64

    /// A generator that starts from `seed`.
    public init(seed: UInt64) { state = seed }

    /// The increment of the counter, 2^64 / φ.
    public static let increment: UInt64 = 0x9E37_79B9_7F4A_7C15

    /// The output function: a bijective mix of all 64 bits.
    public static func mix(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Output number `index` (from 0) of a generator seeded with `seed`, without stepping through
    /// the ones before it.
    public static func value(at index: UInt64, seed: UInt64) -> UInt64 {
        mix(seed &+ (index &+ 1) &* increment)
    }

    /// Advances the counter and returns its mix.
    public mutating func next() -> UInt64 {
        state &+= Self.increment
        return Self.mix(state)
    }
}

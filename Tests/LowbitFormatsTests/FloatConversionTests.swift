import Foundation
import Testing
@testable import LowbitFormats
import LowbitTestSupport

/// The repository's `fixtures/quant/` directory.
private let quantFixtures = Fixtures.url("quant")

/// A slow, obviously-correct reference: rounds `x` to a binary float format with `exponentBits`
/// and `mantissaBits` (ties to even) in Double arithmetic, and returns the bits, or nil when the
/// result is not finite in that format.
private func referenceBits(_ x: Float, exponentBits: Int, mantissaBits: Int, maxFinite: Double) -> UInt32? {
    guard x.isFinite else { return nil }
    let bias = (1 << (exponentBits - 1)) - 1
    let v = Double(x).magnitude
    let minNormalExponent = 1 - bias
    let e = v == 0 ? minNormalExponent : max(Int(v.exponent), minNormalExponent)
    let quantum = Double(sign: .plus, exponent: e - mantissaBits, significand: 1)
    let n = (v / quantum).rounded(.toNearestOrEven)
    let r = n * quantum
    guard r <= maxFinite else { return nil }
    let sign: UInt32 = x.sign == .minus ? 1 << UInt32(exponentBits + mantissaBits) : 0
    if r < Double(sign: .plus, exponent: minNormalExponent, significand: 1) {
        return sign | UInt32(n)                       // subnormal (or zero): the mantissa count
    }
    let re = Int(r.exponent)
    let m = UInt32((r / Double(sign: .plus, exponent: re - mantissaBits, significand: 1))) - (1 << UInt32(mantissaBits))
    return sign | UInt32(re + bias) << UInt32(mantissaBits) | m
}

/// The pseudo-random inputs of `make_float_fixtures.py`.
private func randomInputs(count: Int, seed: UInt64) -> [Float] {
    (0..<count).map { i in
        let z = SplitMix64.value(at: UInt64(i), seed: seed)
        let u = UInt32(truncatingIfNeeded: z)
        let h = UInt32(truncatingIfNeeded: z >> 32)
        let bits = i % 2 == 1 ? (u & 0x807F_FFFF) | ((100 + h % 60) << 23) : u
        return Float(bitPattern: bits)
    }
}

private func fnv1a64(_ bytes: [UInt8]) -> String {
    var h: UInt64 = 0xCBF2_9CE4_8422_2325
    for b in bytes { h = (h ^ UInt64(b)) &* 0x100_0000_01B3 }
    let s = String(h, radix: 16)
    return String(repeating: "0", count: 16 - s.count) + s
}

@Suite struct FloatConversionTests {
    static let bf16Inputs: [Float] = (0..<65536).map { Float(bitPattern: UInt32($0) << 16) }

    @Test func fp8MatchesMLDtypesOnEveryBFloat16() throws {
        let table = try [UInt8](Data(contentsOf: quantFixtures.appendingPathComponent("float_casts_bf16.bin")))
        try #require(table.count == 65536 * 5)
        var mismatches = [String]()
        for (i, x) in Self.bf16Inputs.enumerated() {
            let expected = (table[i], table[65536 + i], table[2 * 65536 + i])
            let got = (FP8.e4m3(x), FP8.e5m2(x), FP8.e8m0(x))
            if got != expected, mismatches.count < 10 {
                mismatches.append("x=\(x) bits=\(String(x.bitPattern, radix: 16)) got \(got) want \(expected)")
            }
            let f16 = UInt16(table[3 * 65536 + 2 * i]) | UInt16(table[3 * 65536 + 2 * i + 1]) << 8
            let gotF16 = Float16(x).bitPattern
            if !x.isNaN, gotF16 != f16, mismatches.count < 10 {
                mismatches.append("f16 x=\(x) got \(gotF16) want \(f16)")
            }
        }
        #expect(mismatches.isEmpty, "\(mismatches)")
    }

    @Test func fp8MatchesSlowReferenceOnEveryBFloat16() {
        var bad = 0
        for x in Self.bf16Inputs {
            if let r = referenceBits(x, exponentBits: 4, mantissaBits: 3, maxFinite: 448), UInt32(FP8.e4m3(x)) != r { bad += 1 }
            if let r = referenceBits(x, exponentBits: 5, mantissaBits: 2, maxFinite: 57344), UInt32(FP8.e5m2(x)) != r { bad += 1 }
            if let r = referenceBits(x, exponentBits: 5, mantissaBits: 10, maxFinite: 65504), UInt32(Float16(x).bitPattern) != r { bad += 1 }
        }
        #expect(bad == 0)
    }

    @Test func randomFloat32MatchesMLDtypesHashes() throws {
        let data = try Data(contentsOf: quantFixtures.appendingPathComponent("float_casts_random.json"))
        let doc = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let count = try #require(doc["count"] as? Int)
        let seed = try #require(doc["seed"] as? Int)
        let hashes = try #require(doc["fnv1a64"] as? [String: String])
        let x = randomInputs(count: count, seed: UInt64(seed))
        func bytes16(_ v: [UInt16]) -> [UInt8] { v.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] } }
        #expect(fnv1a64(FloatFormat.f8e4m3.encode(x)) == hashes["e4m3"])
        #expect(fnv1a64(FloatFormat.f8e5m2.encode(x)) == hashes["e5m2"])
        #expect(fnv1a64(FloatFormat.f8e8m0.encode(x)) == hashes["e8m0"])
        #expect(fnv1a64(FloatFormat.bf16.encode(x)) == hashes["bf16"])
        #expect(fnv1a64(bytes16(x.map { $0.isNaN ? 0x7E00 : Float16($0).bitPattern })) == hashes["f16"])
        #expect(FloatFormat.f16.encode(x) == bytes16(x.map { Float16($0).bitPattern }))
        // And the fast casts agree with the slow reference wherever the result is finite.
        var bad = 0
        for v in x {
            if let r = referenceBits(v, exponentBits: 4, mantissaBits: 3, maxFinite: 448), UInt32(FP8.e4m3(v)) != r { bad += 1 }
            if let r = referenceBits(v, exponentBits: 5, mantissaBits: 2, maxFinite: 57344), UInt32(FP8.e5m2(v)) != r { bad += 1 }
            if let r = referenceBits(v, exponentBits: 8, mantissaBits: 7, maxFinite: Double(Float.greatestFiniteMagnitude)),
               UInt32(BFloat16Bits.fromFloat(v)) != r { bad += 1 }
        }
        #expect(bad == 0)
    }

    @Test func decodeIsExactForEveryPattern() {
        for b in 0...255 {
            let bits = UInt8(b)
            let e4 = FP8.float(e4m3: bits), e5 = FP8.float(e5m2: bits)
            if bits & 0x7F == 0x7F { #expect(e4.isNaN) } else { #expect(FP8.e4m3(e4) == bits) }
            if bits & 0x7F > 0x7C { #expect(e5.isNaN) } else { #expect(FP8.e5m2(e5) == bits) }
            if bits == 0xFF { #expect(FP8.float(e8m0: bits).isNaN) } else { #expect(FP8.e8m0(FP8.float(e8m0: bits)) == bits) }
        }
        // Against the textbook formula, for every pattern.
        func textbook(_ bits: UInt8, exponentBits: Int, mantissaBits: Int) -> Double {
            let e = Int(bits & 0x7F) >> mantissaBits, m = Double(Int(bits) & ((1 << mantissaBits) - 1))
            let bias = (1 << (exponentBits - 1)) - 1
            let scale = Double(1 << mantissaBits)
            let v = e == 0 ? m / scale * pow(2, Double(1 - bias)) : (1 + m / scale) * pow(2, Double(e - bias))
            return bits & 0x80 != 0 ? -v : v
        }
        for b in 0...255 where b & 0x7F != 0x7F {
            #expect(Double(FP8.float(e4m3: UInt8(b))) == textbook(UInt8(b), exponentBits: 4, mantissaBits: 3))
            #expect([UInt8(b)].withUnsafeBytes { FloatFormat.f8e4m3.decode($0) }.first.map(Double.init) == textbook(UInt8(b), exponentBits: 4, mantissaBits: 3))
        }
        for b in 0...255 where b & 0x7F < 0x7C {
            #expect(Double(FP8.float(e5m2: UInt8(b))) == textbook(UInt8(b), exponentBits: 5, mantissaBits: 2))
        }
        #expect(FP8.float(e5m2: 0xFC) == -.infinity)
        #expect(FP8.float(e4m3: 0x80).sign == .minus && FP8.float(e5m2: 0x80).sign == .minus)
        #expect(FP8.e4m3Table.map(\.bitPattern) == (0...255).map { FP8.float(e4m3: UInt8($0)).bitPattern })
        #expect(FP8.float(e4m3: 0x7E) == 448)
        #expect(FP8.float(e5m2: 0x7B) == 57344)
        #expect(FP8.float(e5m2: 0x7C) == .infinity)
        #expect(FP8.float(e8m0: 127) == 1)
        #expect(FP8.float(e8m0: 0) == 0x1p-127)
        for b in 0...0xFFFF {
            let x = BFloat16Bits.toFloat(UInt16(b))
            if x.isNaN { #expect(BFloat16Bits.fromFloat(x) | 0x8000 == 0xFFC0) } else { #expect(BFloat16Bits.fromFloat(x) == UInt16(b)) }
        }
    }

    @Test func bulkRoundTripAllFormatsUnaligned() {
        let values: [Float] = [0, -0.0, 1, -1.5, 0.1, 3.25, 240, -0.001953125, 65504, 1e-3, 0.3333]
        for format in FloatFormat.allCases {
            let bytes = format.encode(values)
            #expect(bytes.count == values.count * format.byteWidth)
            // Decode from an odd offset to exercise unaligned loads.
            var shifted = [UInt8](repeating: 0, count: bytes.count + 1)
            shifted.replaceSubrange(1..., with: bytes)
            let decoded = shifted.withUnsafeBytes { raw in
                format.decode(UnsafeRawBufferPointer(rebasing: raw[1...]))
            }
            for (v, d) in zip(values, decoded) {
                let expected: Float
                switch format {
                case .f32: expected = v
                case .f64: expected = Float(Double(v))
                case .f16: expected = Float(Float16(v))
                case .bf16: expected = BFloat16Bits.toFloat(BFloat16Bits.fromFloat(v))
                case .f8e4m3: expected = FP8.float(e4m3: FP8.e4m3(v))
                case .f8e5m2: expected = FP8.float(e5m2: FP8.e5m2(v))
                case .f8e8m0: expected = FP8.float(e8m0: FP8.e8m0(v))
                }
                #expect(d.bitPattern == expected.bitPattern || (d.isNaN && expected.isNaN), "\(format) \(v)")
            }
        }
        #expect(FloatFormat.f8e4m3.encode([1000, -1000, .infinity]) == [0x7F, 0xFF, 0x7F])
        #expect(FloatFormat.f8e5m2.encode([1e6, -.infinity, .nan]) == [0x7C, 0xFC, 0x7E])
        #expect(([0x80, 0x3F] as [UInt8]).withUnsafeBytes { FloatFormat.bf16.decode($0) } == [1])
    }

    /// E8M0's rounding is Lowbit's own rule (nearest power of two by value, ties to the larger;
    /// see `FP8.e8m0`), so it is pinned here by hand-computed cases that no package decides.
    @Test func e8m0RoundsToTheNearestPowerOfTwoByValue() {
        func f(_ bits: UInt32) -> Float { Float(bitPattern: bits) }
        let cases: [(input: Float, bits: UInt8, why: String)] = [
            (1, 0x7F, "exact 2^0"),
            (f(0x3FBF_FFFF), 0x7F, "just below 1.5: nearer 1"),
            (1.5, 0x80, "the midpoint of 1 and 2: the tie goes up"),
            (f(0x3FC0_0001), 0x80, "just above 1.5"),
            (0.75, 0x7F, "midpoint of 0.5 and 1: up to 1"),
            (0.7, 0x7E, "nearer 0.5"),
            (3, 0x81, "midpoint of 2 and 4: up to 4"),
            (0x1p127, 0xFE, "the largest value"),
            (f(0x7F3F_FFFF), 0xFE, "just below 1.5 x 2^127"),
            (f(0x7F40_0000), 0xFF, "1.5 x 2^127 rounds to 2^128, which E8M0 lacks: NaN"),
            (.greatestFiniteMagnitude, 0xFF, "rounds beyond 2^127"),
            (0x1p-126, 0x01, "the smallest F32 normal is exact"),
            (0x1p-127, 0x00, "an F32 subnormal that is exact: the smallest E8M0"),
            (f(0x0041_0000), 0x00, "1.016 x 2^-127: nearer 2^-127 (ml_dtypes 0.6 said 0x01)"),
            (f(0x005F_FFFF), 0x00, "just below 1.5 x 2^-127"),
            (f(0x0060_0000), 0x01, "1.5 x 2^-127, the subnormal midpoint: up to 2^-126"),
            (f(0x007F_FFFF), 0x01, "the largest subnormal"),
            (f(0x003F_FFFF), 0x00, "below 2^-127 there is nothing smaller: 0x00"),
            (f(0x0000_0001), 0x00, "the smallest subnormal, 2^-149"),
            (0, 0xFF, "zero has no E8M0 value"),
            (-0.0, 0xFF, "nor has negative zero"),
            (-1, 0xFF, "negatives are NaN"),
            (.infinity, 0xFF, "inf is NaN"),
            (.nan, 0xFF, "NaN stays NaN"),
        ]
        for c in cases {
            #expect(FP8.e8m0(c.input) == c.bits, "\(c.why): e8m0(\(c.input))")
        }
        // The rule, written as a distance comparison in Double, over every BF16 pattern.
        for b in 0...0xFFFF {
            let x = BFloat16Bits.toFloat(UInt16(b))
            let expected: UInt8
            if !(x > 0) || x.isInfinite {
                expected = 0xFF
            } else {
                let v = Double(x)
                var e = -127
                while e < 128, pow(2, Double(e + 1)) <= v { e += 1 }
                // 2^e <= v < 2^(e+1), or v < 2^-127 with e = -127.
                let lower = pow(2, Double(e)), upper = pow(2, Double(e + 1))
                let up = v >= lower && (v - lower) >= (upper - v)
                let chosen = up ? e + 1 : e
                expected = chosen >= 128 ? 0xFF : UInt8(chosen + 127)
            }
            #expect(FP8.e8m0(x) == expected, "bf16 pattern \(b)")
        }
    }
}

/// Per-call working memory of the K-quant and IQ4 quantizers (levels, weights, sub-block scales).
///
/// Allocated on the stack for the duration of one `quantize` call, so codecs stay free of shared
/// mutable state and can run on many threads at once.
struct KQuantScratch {
    /// One level per element of a 256-element super-block (signed types store them as `Int8`).
    let levels: UnsafeMutablePointer<UInt8>
    /// Candidate levels of one sub-block during a scale search.
    let auxLevels: UnsafeMutablePointer<UInt8>
    /// Per-element weights of one sub-block.
    let weights: UnsafeMutablePointer<Float>
    /// Sub-block scales, mins and weight sums of one super-block.
    let scales: UnsafeMutablePointer<Float>
    let mins: UnsafeMutablePointer<Float>
    let weightSums: UnsafeMutablePointer<Float>
    /// Quantized sub-block scales and mins of one super-block.
    let scaleLevels: UnsafeMutablePointer<UInt8>
    let minLevels: UnsafeMutablePointer<UInt8>

    var signedLevels: UnsafeMutablePointer<Int8> {
        UnsafeMutableRawPointer(levels).assumingMemoryBound(to: Int8.self)
    }

    /// Runs `body` with freshly allocated scratch memory.
    static func with<R>(_ body: (KQuantScratch) throws -> R) rethrows -> R {
        // 256 levels + 256 aux + 256 weights*4 + 3*16*4 + 2*16 bytes, rounded up.
        try withUnsafeTemporaryAllocation(byteCount: 4096, alignment: 64) { raw in
            let base = raw.baseAddress!
            let bytes = base.bindMemory(to: UInt8.self, capacity: 1024)
            let floats = (base + 1024).bindMemory(to: Float.self, capacity: 304)
            let scratch = KQuantScratch(
                levels: bytes,
                auxLevels: bytes + 256,
                weights: floats,
                scales: floats + 256,
                mins: floats + 272,
                weightSums: floats + 288,
                scaleLevels: bytes + 512,
                minLevels: bytes + 528)
            return try body(scratch)
        }
    }
}

import Foundation
import LowbitConvert
import LowbitTestSupport
import Testing

/// The byte-budget allocator: optimal on synthetic convex costs (against exhaustive search),
/// never over the budget, refusing budgets below the smallest choice; and its convex hull.
@Suite struct BudgetAllocatorTests {
    typealias Option = BudgetAllocator.Option

    /// Every combination, for small problems: the least total loss within `budget`.
    static func exhaustive(_ items: [[Option]], budget: Int) -> Double {
        var best = Double.infinity
        func walk(_ i: Int, _ bytes: Int, _ loss: Double) {
            guard bytes <= budget else { return }
            guard i < items.count else { best = min(best, loss); return }
            for o in items[i] { walk(i + 1, bytes + o.bytes, loss + o.loss) }
        }
        walk(0, 0, 0)
        return best
    }

    /// Tensors of different sizes whose loss halves with every bit (as quantization error falls
    /// ~4× per bit in the weights, scaled per tensor): convex in bytes, so the greedy path is
    /// optimal wherever it stops exactly; elsewhere the result stays within one item's loss
    /// range of the exhaustive optimum, at every budget between the smallest and largest choice.
    @Test func matchesExhaustiveSearchOnConvexCosts() throws {
        var rng = LCG64(seed: 5)
        for trial in 0..<12 {
            let items: [[Option]] = (0..<5).map { _ in
                let size = 64 + Int(rng.nextUnitFloat() * 512)
                let weight = 0.1 + Double(rng.nextUnitFloat()) * 10
                return [2, 3, 4, 5, 6, 8].map { bits in Option(bytes: size * bits / 8, loss: weight * Self.pow4(-Double(bits))) }
            }
            let least = items.reduce(0) { $0 + $1.map(\.bytes).min()! }
            let most = items.reduce(0) { $0 + $1.map(\.bytes).max()! }
            for step in 0...20 {
                let budget = least + (most - least) * step / 20
                let choice = try BudgetAllocator.allocate(items, budget: budget)
                let bytes = zip(items, choice).reduce(0) { $0 + $1.0[$1.1].bytes }
                let loss = zip(items, choice).reduce(0.0) { $0 + $1.0[$1.1].loss }
                #expect(bytes <= budget, "trial \(trial) budget \(budget): \(bytes) bytes")
                let optimum = Self.exhaustive(items, budget: budget)
                // The documented bound: within one item's loss range of the optimum (the greedy
                // path is exact only where it stops on a hull point).
                let slack = items.map { $0.map(\.loss).max()! - $0.map(\.loss).min()! }.max()!
                #expect(loss >= optimum - 1e-12 && loss <= optimum + slack, "trial \(trial) budget \(budget): loss \(loss), optimum \(optimum)")
            }
        }
    }

    /// Random, non-convex costs: never over budget, and never worse than the cheapest choice.
    @Test func neverExceedsTheBudget() throws {
        var rng = LCG64(seed: 9)
        for _ in 0..<50 {
            let items: [[Option]] = (0..<8).map { _ in
                (0..<4).map { _ in Option(bytes: 1 + Int(rng.nextUnitFloat() * 100), loss: Double(rng.nextUnitFloat())) }
            }
            let least = items.reduce(0) { $0 + $1.map(\.bytes).min()! }
            let budget = least + Int(rng.nextUnitFloat() * 300)
            let choice = try BudgetAllocator.allocate(items, budget: budget)
            #expect(zip(items, choice).reduce(0) { $0 + $1.0[$1.1].bytes } <= budget)
        }
    }

    /// An exact case: two tensors, the budget fits one upgrade, which must go to the tensor that
    /// saves more per byte; a budget below the smallest choice is refused with the minimum.
    @Test func knownOptimumAndRefusal() throws {
        let items: [[Option]] = [
            [Option(bytes: 100, loss: 10), Option(bytes: 200, loss: 9)],   // saves 1 per 100 bytes
            [Option(bytes: 100, loss: 10), Option(bytes: 200, loss: 2)],   // saves 8 per 100 bytes
        ]
        #expect(try BudgetAllocator.allocate(items, budget: 300) == [0, 1])
        #expect(try BudgetAllocator.allocate(items, budget: 400) == [1, 1])
        #expect(try BudgetAllocator.allocate(items, budget: 299) == [0, 0])
        #expect(throws: BudgetAllocator.Failure.budgetTooSmall(minimum: 200)) {
            try BudgetAllocator.allocate(items, budget: 199)
        }
    }

    static func pow4(_ e: Double) -> Double { pow(4, e) }
}

/// Chooses one option per item (a type per tensor) to minimise the total loss within a byte
/// budget: the multiple-choice knapsack behind `--target-bpw`.
///
/// The method is Lagrangian relaxation on each item's lower convex hull of (bytes, loss),
/// solved exactly by its greedy path: every item starts at its smallest option, then the
/// upgrades along the hulls are taken in order of loss saved per byte while they fit. When the
/// next upgrade of an item no longer fits, the item stops and the others go on (the fill step).
/// A final pass spends what is left on the single change (any option, on or off the hull) that
/// saves the most loss, until none fits. For hull-convex costs whose budget falls on the path
/// this is optimal; otherwise it is within one upgrade's loss of it.
public enum BudgetAllocator {
    /// One choice of an item.
    public struct Option: Sendable, Equatable {
        /// Bytes the option costs.
        public var bytes: Int
        /// Its predicted loss.
        public var loss: Double

        /// An option of `bytes` and `loss`.
        public init(bytes: Int, loss: Double) {
            self.bytes = bytes
            self.loss = loss
        }
    }

    /// Why an allocation failed.
    public enum Failure: Error, Equatable {
        /// Even the smallest options need `minimum` bytes, over the budget.
        case budgetTooSmall(minimum: Int)
    }

    /// The index of the chosen option of every item, the smallest total loss found within
    /// `budget` bytes. Items with one option always take it.
    ///
    /// - Throws: ``Failure/budgetTooSmall(minimum:)`` when no choice fits.
    public static func allocate(_ items: [[Option]], budget: Int) throws -> [Int] {
        precondition(items.allSatisfy { !$0.isEmpty }, "every item needs an option")
        var choice = items.map { options in options.indices.min { (options[$0].bytes, options[$0].loss) < (options[$1].bytes, options[$1].loss) }! }
        var used = zip(items, choice).reduce(0) { $0 + $1.0[$1.1].bytes }
        guard used <= budget else { throw Failure.budgetTooSmall(minimum: used) }

        // The greedy path along the hulls: upgrades by loss saved per byte, best first.
        let hulls = items.map(lowerHull)
        var position = [Int](repeating: 0, count: items.count)  // index into the item's hull
        var stopped = [Bool](repeating: false, count: items.count)
        func nextSlope(_ i: Int) -> Double? {
            let h = hulls[i]
            guard !stopped[i], position[i] + 1 < h.count else { return nil }
            let (a, b) = (items[i][h[position[i]]], items[i][h[position[i] + 1]])
            return (a.loss - b.loss) / Double(b.bytes - a.bytes)
        }
        while true {
            var best: (item: Int, slope: Double)?
            for i in items.indices {
                if let s = nextSlope(i), s > 0, best == nil || s > best!.slope { best = (i, s) }
            }
            guard let (i, _) = best else { break }
            let h = hulls[i]
            let extra = items[i][h[position[i] + 1]].bytes - items[i][h[position[i]]].bytes
            if used + extra <= budget {
                used += extra
                position[i] += 1
                choice[i] = h[position[i]]
            } else {
                stopped[i] = true
            }
        }

        // Fill: the single change that saves the most loss while it fits.
        while true {
            var best: (item: Int, option: Int, saved: Double)?
            for i in items.indices {
                let current = items[i][choice[i]]
                for (j, o) in items[i].enumerated() where o.loss < current.loss && used - current.bytes + o.bytes <= budget {
                    let saved = current.loss - o.loss
                    if best == nil || saved > best!.saved { best = (i, j, saved) }
                }
            }
            guard let (i, j, _) = best else { break }
            used += items[i][j].bytes - items[i][choice[i]].bytes
            choice[i] = j
        }
        return choice
    }

    /// The indices of `options` on their lower convex hull in the (bytes, loss) plane, by
    /// increasing bytes: each point saves loss over the one before, at a falling rate per byte.
    static func lowerHull(_ options: [Option]) -> [Int] {
        // By bytes, then loss; only points that lower the loss survive (the rest are dominated).
        let order = options.indices.sorted { (options[$0].bytes, options[$0].loss) < (options[$1].bytes, options[$1].loss) }
        var frontier: [Int] = []
        for i in order {
            if let last = frontier.last {
                if options[i].bytes == options[last].bytes || options[i].loss >= options[last].loss { continue }
            }
            frontier.append(i)
        }
        var hull: [Int] = []
        for i in frontier {
            while hull.count >= 2 {
                let (a, b, c) = (options[hull[hull.count - 2]], options[hull[hull.count - 1]], options[i])
                // b lies on or above the segment a–c: its saving per byte does not fall.
                let lhs = (a.loss - b.loss) * Double(c.bytes - b.bytes)
                let rhs = (b.loss - c.loss) * Double(b.bytes - a.bytes)
                if lhs <= rhs { hull.removeLast() } else { break }
            }
            hull.append(i)
        }
        return hull
    }
}

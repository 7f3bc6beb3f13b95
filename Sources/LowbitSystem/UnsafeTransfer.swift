/// A value handed to other threads that the compiler cannot prove safe to share: a raw pointer,
/// a non-`Sendable` closure, a buffer. Like swift-nio's `UnsafeTransfer`, it only silences the
/// checker; whoever wraps a value promises that the threads reading it touch disjoint memory, or
/// only read. Prefer ``Parallel``, which takes non-`Sendable` bodies and needs no wrapper.
package struct UnsafeTransfer<Wrapped>: @unchecked Sendable {
    /// The wrapped value.
    package var wrappedValue: Wrapped

    /// Wraps `wrappedValue` for use on other threads.
    @inlinable
    package init(_ wrappedValue: Wrapped) { self.wrappedValue = wrappedValue }
}

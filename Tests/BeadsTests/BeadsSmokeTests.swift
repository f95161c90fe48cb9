import Testing
@testable import Beads

@Test func moduleLinks() {
    #expect(!"\(Beads.self)".isEmpty)
}

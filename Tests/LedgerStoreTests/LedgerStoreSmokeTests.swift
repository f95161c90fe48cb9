import Testing
@testable import LedgerStore

@Test func moduleLinks() {
    #expect(!LedgerStoreModule.name.isEmpty)
}

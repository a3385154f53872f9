// What a call across the boundary costs from Kotlin: prints figures to compare with the Rust
// bench (`cargo bench -p fieldcase-ffi --bench boundary`), which times the same operations on
// the same data. No timing is asserted. Runs only with -Dfieldcase.bench=true (the script's
// FIELDCASE_BENCH=1), ideally against a release build of the library.
package fieldcase.tests

import fieldcase.createUnenrolledStoreForTests
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assumptions.assumeTrue
import org.junit.jupiter.api.Test

class BoundaryBenchmarkTest {
    private fun report(name: String, iterations: Int, nanos: List<Long>) {
        val sorted = nanos.sorted()
        val mean = nanos.average() / 1_000.0
        val median = sorted[sorted.size / 2] / 1_000.0
        val p95 = sorted[(sorted.size * 95) / 100] / 1_000.0
        println("kotlin  %-34s n=%-5d mean %9.2f µs  median %9.2f µs  p95 %9.2f µs".format(name, iterations, mean, median, p95))
    }

    private inline fun time(iterations: Int, op: (Int) -> Unit): List<Long> = (0 until iterations).map { i ->
        val start = System.nanoTime()
        op(i)
        System.nanoTime() - start
    }

    @Test
    fun `boundary cost of create_case and list_cases(100)`() {
        assumeTrue(System.getProperty("fieldcase.bench") == "true", "benchmark not requested")
        val store = createUnenrolledStoreForTests(
            workDir("bench").resolve("bench.db").toString(), PASSPHRASE, "iom_uga", "bench",
        )
        val case = sampleCase("Amina", phone = "+256 700 123456")
        // Warm up the JIT and SQLite's caches.
        repeat(200) { store.createCase(case) }
        repeat(50) { store.listCases(null, 100u, 0u) }
        repeat(10_000) { store.isLocked() }

        report("is_locked (empty call)", 20_000, time(20_000) { store.isLocked() })
        report("create_case", 1_000, time(1_000) { store.createCase(case) })
        report("get_case", 2_000, store.listCases(null, 1u, 0u).single().id.let { id -> time(2_000) { store.getCase(id) } })
        report("list_cases(100)", 300, time(300) { assertEquals(100, store.listCases(null, 100u, 0u).size) })
        store.close()
    }
}

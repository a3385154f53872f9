// What a call across the boundary costs from Kotlin: prints figures to compare with the Rust
// bench (`cargo bench -p fieldcase-ffi --bench boundary`), which times the same operations on
// the same data. No timing is asserted. Runs only with -Dfieldcase.bench=true (the script's
// FIELDCASE_BENCH=1), ideally against a release build of the library.
package fieldcase.tests

import fieldcase.createUnenrolledStoreForTests
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assumptions.assumeTrue
import org.junit.jupiter.api.Test
import java.nio.file.Files

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

    /** Throughput of `samples` reads of `bytes` each: MB/s (10^6 bytes) at the median and best. */
    private fun reportRate(name: String, bytes: Int, nanos: List<Long>) {
        val sorted = nanos.sorted()
        val rate = { ns: Long -> bytes / 1e6 / (ns / 1e9) }
        println("kotlin  %-34s n=%-5d median %8.1f MB/s  best %8.1f MB/s  (median %7.2f ms)".format(
            name, nanos.size, rate(sorted[sorted.size / 2]), rate(sorted.first()), sorted[sorted.size / 2] / 1e6))
    }

    // The same reads as `cargo bench -p fieldcase-ffi --bench attachment_read`: an 8 MiB scan
    // to a file, a 4 MiB photo (the most `readAttachmentBytes` returns) to a ByteArray.
    @Test
    fun `boundary cost of an attachment read`() = runBlocking {
        assumeTrue(System.getProperty("fieldcase.bench") == "true", "benchmark not requested")
        val dir = workDir("bench-attachments")
        val store = createUnenrolledStoreForTests(dir.resolve("bench.db").toString(), PASSPHRASE, "iom_uga", "bench")
        val caseId = store.createCase(sampleCase("Amina"))
        val scan = jpeg(8 * 1024 * 1024, 3)
        val scanFile = dir.resolve("scan.jpg")
        Files.write(scanFile, scan)
        val scanId = store.attachFile(caseId, scanFile.toString(), "image/jpeg", null, null)
        val photo = jpeg(4 * 1024 * 1024, 4)
        val photoId = store.attachBytes(caseId, photo, "image/jpeg", null, null)
        val out = dir.resolve("out.jpg").toString()
        repeat(5) { store.readAttachmentToFile(scanId, out, null); store.readAttachmentBytes(photoId, null) }

        reportRate("read 8 MiB to a file", scan.size, time(20) { runBlocking { store.readAttachmentToFile(scanId, out, null) } })
        val progress = RecordingProgress()
        reportRate("read 8 MiB to a file, progress", scan.size, time(20) { runBlocking { store.readAttachmentToFile(scanId, out, progress) } })
        reportRate("read 4 MiB to a ByteArray", photo.size, time(30) { runBlocking { assertEquals(photo.size, store.readAttachmentBytes(photoId, null).size) } })
        store.close()
    }
}

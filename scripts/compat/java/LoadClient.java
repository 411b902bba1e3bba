// LoadClient — the client side of scripts/compat-java.sh (always run natively), against
// LegacyServer on 127.0.0.1:PORT. Every mode prints what it got, one line each, in an order
// that does not depend on timing, so that runs can be compared byte for byte:
//   load PORT N BYTES [HOLD]
//                       N connections open at once (all connected before any sends), each sends
//                       BYTES of its own pattern for SHA and ECHO and checks the echo; with HOLD,
//                       once every connection has had its answers it makes the file HOLD.ready,
//                       keeps them all open until the file HOLD exists, then does it all again
//   pairs PORT K        2K connections meet in pairs (PAIR key-i): how many waited, how many not
//   cmd PORT LINE...    one connection: each line sent, each reply printed
//   partial PORT BYTES N close|hang
//                       N connections each announce ECHO BYTES and send half of them, then close
//                       or (hang) wait, all open, to be killed
import java.io.*;
import java.net.*;
import java.nio.charset.StandardCharsets;
import java.nio.file.*;
import java.security.MessageDigest;
import java.util.*;
import java.util.concurrent.*;

public class LoadClient {
	public static void main(String[] a) throws Exception {
		int port = Integer.parseInt(a[1]);
		switch (a[0]) {
		case "load" -> load(port, Integer.parseInt(a[2]), Integer.parseInt(a[3]), a.length > 4 ? a[4] : null);
		case "pairs" -> pairs(port, Integer.parseInt(a[2]));
		case "cmd" -> {
			try (Conn c = new Conn(port)) {
				for (int i = 2; i < a.length; i++)
					System.out.println(a[i] + " -> " + c.ask(a[i]));
			}
		}
		case "partial" -> partial(port, Integer.parseInt(a[2]), Integer.parseInt(a[3]), a[4].equals("hang"));
		default -> throw new IllegalArgumentException(a[0]);
		}
	}

	static class Conn implements Closeable {
		final Socket s;
		final DataInputStream in;
		final OutputStream out;

		Conn(int port) throws IOException {
			s = new Socket("127.0.0.1", port);
			s.setSoTimeout(60_000);
			in = new DataInputStream(new BufferedInputStream(s.getInputStream()));
			out = new BufferedOutputStream(s.getOutputStream());
		}

		void send(String line, byte[] body) throws IOException {
			out.write((line + "\n").getBytes(StandardCharsets.US_ASCII));
			if (body != null)
				out.write(body);
			out.flush();
		}

		String line() throws IOException {
			StringBuilder b = new StringBuilder();
			int c;
			while ((c = in.read()) != '\n') {
				if (c < 0)
					return b + "<EOF>";
				b.append((char) c);
			}
			return b.toString();
		}

		String ask(String line) throws IOException {
			send(line, null);
			return line();
		}

		public void close() throws IOException {
			s.close();
		}
	}

	static byte[] pattern(int i, int n) {
		byte[] b = new byte[n];
		long x = 0x9e3779b97f4a7c15L * (i + 1);
		for (int k = 0; k < n; k++) {
			x ^= x << 13;
			x ^= x >>> 7;
			x ^= x << 17;
			b[k] = (byte) x;
		}
		return b;
	}

	static String hex(byte[] b) {
		StringBuilder h = new StringBuilder();
		for (byte x : b)
			h.append(String.format("%02x", x));
		return h.toString();
	}

	// runs body(i) for i in [0, n) on n threads that start together; the results in order of i
	static String[] together(int n, Callable2 body) throws Exception {
		String[] r = new String[n];
		CyclicBarrier start = new CyclicBarrier(n);
		Thread[] t = new Thread[n];
		for (int i = 0; i < n; i++) {
			int k = i;
			t[i] = new Thread(() -> {
				try {
					r[k] = body.call(k, start);
				} catch (Exception e) {
					r[k] = "error " + e;
				}
			});
			t[i].start();
		}
		for (Thread x : t)
			x.join();
		return r;
	}

	interface Callable2 {
		String call(int i, CyclicBarrier start) throws Exception;
	}

	static void load(int port, int n, int bytes, String hold) throws Exception {
		CyclicBarrier answered = new CyclicBarrier(n, () -> {
			if (hold != null)
				ready(hold);
		});
		String[] r = together(n, (i, start) -> {
			try (Conn c = new Conn(port)) {
				start.await(60, TimeUnit.SECONDS);
				byte[] p = pattern(i, bytes);
				String first = shaAndEcho(c, p);
				if (hold == null)
					return first;
				answered.await(60, TimeUnit.SECONDS);
				return first + "; held, then " + shaAndEcho(c, p);
			}
		});
		Map<String, Integer> counts = new TreeMap<>();
		for (String x : r)
			counts.merge(x, 1, Integer::sum);
		MessageDigest all = MessageDigest.getInstance("SHA-256");
		for (int i = 0; i < n; i++)
			all.update(pattern(i, bytes));
		System.out.println("load " + n + " x " + bytes + " bytes, all payloads sha256 " + hex(all.digest()));
		counts.forEach((k, v) -> System.out.println(v + " connections: " + k));
	}

	// SHA and ECHO of p on c: whether each answer was right
	static String shaAndEcho(Conn c, byte[] p) throws Exception {
		c.send("SHA " + p.length, p);
		String sha = c.line();
		String want = hex(MessageDigest.getInstance("SHA-256").digest(p));
		c.send("ECHO " + p.length, p);
		byte[] back = new byte[p.length];
		c.in.readFully(back);
		String end = c.line();
		return (sha.equals(want) ? "sha ok" : "sha WRONG " + sha)
			+ (Arrays.equals(back, p) && end.isEmpty() ? ", echo ok" : ", echo WRONG");
	}

	// makes HOLD.ready, then waits (at most 120 s) for HOLD to exist
	static void ready(String hold) {
		try {
			Files.createFile(Paths.get(hold + ".ready"));
			for (int i = 0; i < 12_000 && !Files.exists(Paths.get(hold)); i++)
				Thread.sleep(10);
		} catch (Exception e) {
			throw new RuntimeException(e);
		}
	}

	static void pairs(int port, int k) throws Exception {
		String[] r = together(2 * k, (i, start) -> {
			try (Conn c = new Conn(port)) {
				start.await(60, TimeUnit.SECONDS);
				return c.ask("PAIR key-" + i / 2);
			}
		});
		Map<String, Integer> counts = new TreeMap<>();
		for (String x : r)
			counts.merge(x, 1, Integer::sum);
		counts.forEach((x, v) -> System.out.println(v + " connections: " + x));
	}

	static void partial(int port, int bytes, int n, boolean hang) throws Exception {
		List<Conn> conns = new ArrayList<>();
		for (int i = 0; i < n; i++) {
			Conn c = new Conn(port);
			c.send("ECHO " + bytes, Arrays.copyOf(pattern(i, bytes), bytes / 2));
			conns.add(c);
		}
		System.out.println(n + " connections sent " + bytes / 2 + " of " + bytes + " bytes");
		System.out.flush();
		if (hang)
			Thread.sleep(600_000);
		for (Conn c : conns)
			c.close();
	}
}

// LegacyServer — a classic blocking Java server for scripts/compat-java.sh: one ServerSocket
// accept loop on 127.0.0.1 (port 0; the port is written to the file named by the first
// argument), one platform Thread per connection, line commands answered on the same socket:
//   ECHO n        then n bytes: the n bytes back
//   SHA n         then n bytes: their SHA-256 in hex
//   ALLOC n       n MiB of short-lived arrays (a GC under load), then the checksum of what it kept
//   GC            System.gc(), then "gc"
//   SLEEP ms      Thread.sleep(ms), then "slept"
//   PAIR key      meets the other connection that says PAIR key (synchronized, wait/notify):
//                 "paired first" to the one that waited, "paired second" to the other
//   HOLD name     keeps the connection, then blocks in read; answers nothing: the reader ends
//                 when KILL name closes its socket from another thread
//   KILL name     closes HOLD name's socket from this thread; answers how the reader ended
//   INTERRUPT     a thread in Thread.sleep and one in Object.wait are interrupted: how they ended
//   TIMEOUT ms    a read with setSoTimeout(ms) that nothing answers: whether it timed out in time
//   EXEC n        runs "sh -c 'cat; echo n'" (ProcessBuilder) with n lines on its stdin: the
//                 SHA-256 of what it printed and its exit status
//   SPIN n        n rounds of SHA-256 over its own output, on the CPU: the last digest
//   DEEP n        n times a recursion without end, each ended by StackOverflowError (the JVM's
//                 guard pages at the bottom of the thread's stack): how many were caught
//   COUNT         the connection threads alive now, "live N"
//   SETTLE n      waits (at most 10 s) for at most n connection threads to be alive: "live N"
//   QUIT          closes the connection
// SIGHUP reloads (sun.misc.Signal): counts reloads and reads the settings file again; the
// shutdown hook (SIGTERM, SIGINT) prints what was served, to stdout.
import java.io.*;
import java.net.*;
import java.nio.charset.StandardCharsets;
import java.nio.file.*;
import java.security.MessageDigest;
import java.util.*;
import java.util.concurrent.atomic.*;

public class LegacyServer {
	static final AtomicInteger served = new AtomicInteger();
	static final AtomicInteger live = new AtomicInteger();
	static final AtomicInteger reloads = new AtomicInteger();
	static final Map<String, Socket> held = new HashMap<>();
	static final Map<String, String> heldEnd = new HashMap<>();
	static final Map<String, Integer> pairs = new HashMap<>();
	static final Map<String, Integer> partners = new HashMap<>();
	static volatile String settings = "";
	static Path settingsFile;

	public static void main(String[] args) throws Exception {
		settingsFile = Paths.get(args[1]);
		settings = Files.readString(settingsFile).trim();
		ServerSocket listener = new ServerSocket(0, 2048, InetAddress.getByName("127.0.0.1"));
		Runtime.getRuntime().addShutdownHook(new Thread(() -> {
			System.out.println("shutdown hook: served " + served.get() + " connections, "
				+ reloads.get() + " reloads, settings " + settings);
			System.out.flush();
		}, "shutdown-hook"));
		sun.misc.Signal.handle(new sun.misc.Signal("HUP"), sig -> {
			try {
				settings = Files.readString(settingsFile).trim();
			} catch (IOException e) {
				settings = "unreadable: " + e;
			}
			int n = reloads.incrementAndGet();
			System.out.println("reload " + n + ": settings " + settings);
			System.out.flush();
		});
		Path port = Paths.get(args[0]);
		Files.writeString(Paths.get(args[0] + ".tmp"), Integer.toString(listener.getLocalPort()));
		Files.move(Paths.get(args[0] + ".tmp"), port, StandardCopyOption.ATOMIC_MOVE);
		for (int n = 1;; n++) {
			Socket s = listener.accept();
			int id = n;
			Thread t = new Thread(() -> serve(s, id), "conn-" + id);
			live.incrementAndGet();
			t.start();
		}
	}

	static void serve(Socket s, int id) {
		try (s) {
			DataInputStream in = new DataInputStream(new BufferedInputStream(s.getInputStream()));
			OutputStream out = new BufferedOutputStream(s.getOutputStream());
			String line;
			while ((line = readLine(in)) != null) {
				String[] w = line.split(" ");
				String reply = command(w, in, out, s);
				if (reply == null)
					break;
				out.write((reply + "\n").getBytes(StandardCharsets.US_ASCII));
				out.flush();
			}
			served.incrementAndGet();
		} catch (IOException e) {
			System.err.println("conn-" + id + ": " + e);
		} catch (Exception e) {
			System.err.println("conn-" + id + ": unexpected " + e);
			e.printStackTrace();
		} finally {
			live.decrementAndGet();
		}
	}

	// one line of ASCII without its newline; null at end of stream
	static String readLine(DataInputStream in) throws IOException {
		StringBuilder b = new StringBuilder();
		int c;
		while ((c = in.read()) != '\n') {
			if (c < 0)
				return b.length() == 0 ? null : b.toString();
			b.append((char) c);
		}
		return b.toString();
	}

	static String command(String[] w, DataInputStream in, OutputStream out, Socket s) throws Exception {
		switch (w[0]) {
		case "ECHO": {
			byte[] b = new byte[Integer.parseInt(w[1])];
			in.readFully(b);
			out.write(b);
			return "";
		}
		case "SHA": {
			byte[] b = new byte[Integer.parseInt(w[1])];
			in.readFully(b);
			return hex(MessageDigest.getInstance("SHA-256").digest(b));
		}
		case "ALLOC":
			return "alloc " + allocate(Integer.parseInt(w[1]));
		case "GC":
			System.gc();
			return "gc";
		case "SLEEP":
			Thread.sleep(Long.parseLong(w[1]));
			return "slept";
		case "PAIR":
			return "paired " + pair(w[1]);
		case "HOLD":
			hold(w[1], s, in);
			return null;
		case "KILL":
			return kill(w[1]);
		case "INTERRUPT":
			return interrupts();
		case "TIMEOUT":
			return timedRead(s, in, Integer.parseInt(w[1]));
		case "EXEC":
			return exec(Integer.parseInt(w[1]));
		case "SPIN":
			return spin(Integer.parseInt(w[1]));
		case "DEEP":
			return deep(Integer.parseInt(w[1]));
		case "COUNT":
			return "live " + live.get();
		case "SETTLE":
			for (int i = 0; i < 1000 && live.get() > Integer.parseInt(w[1]); i++)
				Thread.sleep(10);
			return "live " + live.get();
		case "QUIT":
			return null;
		default:
			return "unknown " + w[0];
		}
	}

	static String hex(byte[] b) {
		StringBuilder h = new StringBuilder();
		for (byte x : b)
			h.append(String.format("%02x", x));
		return h.toString();
	}

	// mib MiB in 64 KiB arrays, one in 16 kept until the end: the rest is garbage at once
	static long allocate(int mib) {
		List<byte[]> kept = new ArrayList<>();
		long sum = 0;
		for (int i = 0; i < mib * 16; i++) {
			byte[] b = new byte[65536];
			Arrays.fill(b, (byte) i);
			if (i % 16 == 0)
				kept.add(b);
		}
		for (byte[] b : kept)
			sum += b[b.length - 1] & 0xff;
		return sum;
	}

	// the two connections saying PAIR key meet: the first waits for the second
	static String pair(String key) throws InterruptedException {
		synchronized (pairs) {
			if (pairs.remove(key) != null) {
				partners.put(key, 1);
				pairs.notifyAll();
				return "second";
			}
			pairs.put(key, 0);
			while (!partners.containsKey(key))
				pairs.wait();
			partners.remove(key);
			return "first";
		}
	}

	// keeps s under name and reads until another thread closes it: how the read ended
	static void hold(String name, Socket s, DataInputStream in) {
		synchronized (held) {
			held.put(name, s);
			held.notifyAll();
		}
		String end;
		try {
			int c = in.read();
			end = "read returned " + c;
		} catch (IOException e) {
			end = e.getClass().getSimpleName() + ": " + e.getMessage();
		}
		synchronized (held) {
			heldEnd.put(name, end);
			held.notifyAll();
		}
	}

	// closes the socket HOLD name keeps, waits (at most 5 s) for its reader to say how it ended
	static String kill(String name) throws Exception {
		Socket s;
		long deadline = System.nanoTime() + 5_000_000_000L;
		synchronized (held) {
			while ((s = held.get(name)) == null && System.nanoTime() < deadline)
				held.wait(100);
		}
		if (s == null)
			return "no " + name;
		Thread.sleep(100);
		long t0 = System.nanoTime();
		s.close();
		String end;
		synchronized (held) {
			while ((end = heldEnd.get(name)) == null && System.nanoTime() < deadline)
				held.wait(100);
			held.remove(name);
			heldEnd.remove(name);
		}
		long ms = (System.nanoTime() - t0) / 1_000_000;
		return (end == null ? "reader still blocked" : end) + (ms < 2000 ? " promptly" : " after " + ms + " ms");
	}

	// a read of s with timeout ms, where the client sends nothing: how it ended, and whether at
	// the time (never early, at most 2 s late)
	static String timedRead(Socket s, DataInputStream in, int ms) throws IOException {
		s.setSoTimeout(ms);
		long t0 = System.nanoTime();
		String end;
		try {
			end = "read returned " + in.read();
		} catch (SocketTimeoutException e) {
			end = "timed out";
		}
		s.setSoTimeout(0);
		long took = (System.nanoTime() - t0) / 1_000_000;
		return end + (took >= ms && took < ms + 2000 ? " in time" : " after " + took + " ms");
	}

	// a child process fed n lines: the SHA-256 of its output and its exit status
	static String exec(int n) throws Exception {
		Process p = new ProcessBuilder("sh", "-c", "cat; echo " + n).start();
		Thread feeder = new Thread(() -> {
			try (OutputStream o = p.getOutputStream()) {
				for (int i = 0; i < n; i++)
					o.write(("line " + i + "\n").getBytes(StandardCharsets.US_ASCII));
			} catch (IOException e) {
				System.err.println("exec feeder: " + e);
			}
		}, "feeder");
		feeder.start();
		byte[] out = p.getInputStream().readAllBytes();
		feeder.join();
		return "exec " + out.length + " bytes " + hex(MessageDigest.getInstance("SHA-256").digest(out)).substring(0, 16)
			+ " status " + p.waitFor();
	}

	static int depth;

	static void down() {
		depth++;
		down();
	}

	static String deep(int n) {
		int caught = 0;
		for (int i = 0; i < n; i++) {
			try {
				down();
			} catch (StackOverflowError e) {
				caught++;
			}
		}
		return "caught " + caught + " StackOverflowError";
	}

	static String spin(int n) throws Exception {
		MessageDigest md = MessageDigest.getInstance("SHA-256");
		byte[] d = new byte[32];
		for (int i = 0; i < n; i++)
			d = md.digest(d);
		return "spin " + hex(d).substring(0, 16);
	}

	interface Blocking {
		void run() throws InterruptedException;
	}

	// a thread named name running body; ends[i] says whether body ran out or was interrupted
	static Thread blocked(String name, String[] ends, int i, Blocking body) {
		return new Thread(() -> {
			try {
				body.run();
				ends[i] = name + " ran out";
			} catch (InterruptedException e) {
				ends[i] = name + " interrupted";
			}
		}, name);
	}

	// a sleeper and a waiter, each interrupted once it is blocked: how each ended
	static String interrupts() throws InterruptedException {
		Object lock = new Object();
		String[] ends = new String[2];
		Thread sleeper = blocked("sleep", ends, 0, () -> Thread.sleep(60_000));
		Thread waiter = blocked("wait", ends, 1, () -> {
			synchronized (lock) {
				lock.wait(60_000);
			}
		});
		long t0 = System.nanoTime();
		sleeper.start();
		waiter.start();
		while (sleeper.getState() != Thread.State.TIMED_WAITING || waiter.getState() != Thread.State.TIMED_WAITING)
			Thread.sleep(1);
		sleeper.interrupt();
		waiter.interrupt();
		sleeper.join(10_000);
		waiter.join(10_000);
		long ms = (System.nanoTime() - t0) / 1_000_000;
		return ends[0] + ", " + ends[1] + (ms < 2000 ? " promptly" : " after " + ms + " ms");
	}
}

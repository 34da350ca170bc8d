using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace ClusterSharing.Protocol;

/// <summary>
/// Modular exponentiation for one fixed odd modulus, in Montgomery form with 64-bit limbs and a fixed 4-bit window.
/// <see cref="BigInteger.ModPow"/> (32-bit limbs, a reduction by division, a bit at a time) takes about 4 ms for a
/// 2048-bit modulus and a 321-bit exponent on a quiet 2-core VM; this takes about a third of that (1.4 ms). The SPAKE2 handshake
/// does one such exponentiation on each side of every connection, on the failover's critical path.
/// </summary>
/// <remarks>
/// The window's table entry is selected by scanning the whole table with masks and a multiplication is done for every
/// window (also for a zero digit), so the sequence of operations and memory accesses depends on the exponent's length
/// only, not on its bits.
/// </remarks>
internal sealed class MontgomeryModulus
{
    private const int WindowBits = 4, TableSize = 1 << WindowBits;
    private readonly ulong[] _modulus;
    private readonly ulong _inverse; // -modulus^-1 mod 2^64
    private readonly ulong[] _rSquared; // R^2 mod modulus, R = 2^(64·limbs)
    private readonly BigInteger _value;

    /// <param name="modulus">An odd modulus above 1.</param>
    public MontgomeryModulus(BigInteger modulus)
    {
        if (modulus <= BigInteger.One || modulus.IsEven) throw new ArgumentOutOfRangeException(nameof(modulus), "The modulus must be odd and above 1.");
        _value = modulus;
        int limbs = (int)((modulus.GetBitLength() + 63) / 64);
        _modulus = ToLimbs(modulus, limbs);
        // Newton's iteration doubles the correct low bits each step: 1 → 2 → 4 … → 64 (x·n ≡ 1 mod 2^64).
        ulong x = 1;
        for (int i = 0; i < 6; i++) x *= 2 - _modulus[0] * x;
        _inverse = unchecked(0 - x);
        _rSquared = ToLimbs((BigInteger.One << (128 * limbs)) % modulus, limbs);
    }

    /// <summary>Limbs of the modulus.</summary>
    public int Limbs => _modulus.Length;

    /// <summary><paramref name="value"/>^<paramref name="exponent"/> mod the modulus, equal to <see cref="BigInteger.ModPow"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A negative value or exponent.</exception>
    // Optimized at once: a process runs this a few times per failover, too rarely for tiered compilation to reach it.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public BigInteger Pow(BigInteger value, BigInteger exponent)
    {
        if (value.Sign < 0) throw new ArgumentOutOfRangeException(nameof(value), "The base must not be negative.");
        if (exponent.Sign < 0) throw new ArgumentOutOfRangeException(nameof(exponent), "The exponent must not be negative.");
        if (value >= _value) value %= _value;
        int n = _modulus.Length;
        var scratch = new ulong[n + 2];
        var table = new ulong[TableSize * n];
        var acc = new ulong[n];
        var product = new ulong[n];
        var pick = new ulong[n];

        // table[k] = value^k in Montgomery form (k = 0: R mod p, the form of 1).
        var one = new ulong[n];
        one[0] = 1;
        Multiply(one, _rSquared, table.AsSpan(0, n), scratch);
        Multiply(ToLimbs(value, n), _rSquared, table.AsSpan(n, n), scratch);
        for (int k = 2; k < TableSize; k++)
            Multiply(table.AsSpan((k - 1) * n, n), table.AsSpan(n, n), table.AsSpan(k * n, n), scratch);

        byte[] bits = exponent.ToByteArray(isUnsigned: true, isBigEndian: false);
        int windows = Math.Max(1, (bits.Length * 8 + WindowBits - 1) / WindowBits);
        table.AsSpan(0, n).CopyTo(acc);
        for (int w = windows - 1; w >= 0; w--)
        {
            for (int s = 0; s < WindowBits; s++)
            {
                Multiply(acc, acc, product, scratch);
                product.CopyTo(acc, 0);
            }
            int bit = w * WindowBits;
            int digit = bit / 8 < bits.Length ? (bits[bit / 8] >> (bit % 8)) & (TableSize - 1) : 0;
            Select(table, digit, pick);
            Multiply(acc, pick, product, scratch);
            product.CopyTo(acc, 0);
        }
        // Out of Montgomery form: multiply by 1.
        Multiply(acc, one, product, scratch);
        return new BigInteger(MemoryMarshal.AsBytes(product.AsSpan()), isUnsigned: true, isBigEndian: false);
    }

    /// <summary>Copies table entry <paramref name="digit"/> into <paramref name="into"/>, reading every entry.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Select(ulong[] table, int digit, ulong[] into)
    {
        int n = _modulus.Length;
        Array.Clear(into);
        for (int k = 0; k < TableSize; k++)
        {
            // All ones when k == digit, else zero, without a branch on the digit.
            ulong mask = (ulong)((((long)(k ^ digit)) - 1) >> 63);
            var entry = table.AsSpan(k * n, n);
            for (int i = 0; i < n; i++) into[i] |= entry[i] & mask;
        }
    }

    /// <summary>
    /// Montgomery product <paramref name="a"/>·<paramref name="b"/>·R⁻¹ mod the modulus (CIOS), both below the
    /// modulus; <paramref name="result"/> may not alias <paramref name="a"/> or <paramref name="b"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Multiply(ReadOnlySpan<ulong> a, ReadOnlySpan<ulong> b, Span<ulong> result, ulong[] scratch)
    {
        int n = _modulus.Length;
        var t = scratch.AsSpan(0, n + 2);
        t.Clear();
        ReadOnlySpan<ulong> m = _modulus;
        for (int i = 0; i < n; i++)
        {
            ulong bi = b[i];
            ulong carry = 0;
            for (int j = 0; j < n; j++) t[j] = MulAdd(a[j], bi, t[j], ref carry);
            ulong top = t[n] + carry;
            t[n + 1] = top < carry ? 1UL : 0UL;
            t[n] = top;

            ulong q = t[0] * _inverse;
            carry = 0;
            MulAdd(q, m[0], t[0], ref carry);
            for (int j = 1; j < n; j++) t[j - 1] = MulAdd(q, m[j], t[j], ref carry);
            top = t[n] + carry;
            t[n - 1] = top;
            t[n] = t[n + 1] + (top < carry ? 1UL : 0UL);
        }
        // t < 2·modulus: subtract once when t ≥ modulus (always computed, kept by a mask).
        ulong borrow = 0;
        for (int j = 0; j < n; j++)
        {
            UInt128 diff = (UInt128)t[j] - m[j] - borrow;
            result[j] = (ulong)diff;
            borrow = (ulong)(diff >> 64) & 1;
        }
        // t[n] is 0 or 1 here. Keep t itself only when it is below the modulus: no top limb and the subtraction borrowed.
        ulong keepT = 0 - (borrow & (1 ^ t[n]));
        for (int j = 0; j < n; j++) result[j] = (t[j] & keepT) | (result[j] & ~keepT);
    }

    /// <summary>x·y + add + carry: returns the low limb, leaves the high one in <paramref name="carry"/> (never overflows).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong MulAdd(ulong x, ulong y, ulong add, ref ulong carry)
    {
        ulong high = Math.BigMul(x, y, out ulong low);
        low += add;
        high += low < add ? 1UL : 0UL;
        low += carry;
        high += low < carry ? 1UL : 0UL;
        carry = high;
        return low;
    }

    private static ulong[] ToLimbs(BigInteger value, int limbs)
    {
        var result = new ulong[limbs];
        if (!value.TryWriteBytes(MemoryMarshal.AsBytes(result.AsSpan()), out _, isUnsigned: true, isBigEndian: false))
            throw new ArgumentOutOfRangeException(nameof(value), "The value does not fit in the modulus' limbs.");
        return result;
    }
}

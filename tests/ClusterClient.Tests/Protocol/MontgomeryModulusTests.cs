using System.Globalization;
using System.Numerics;
using ClusterSharing.Protocol;

namespace ClusterSharing.Tests.Protocol;

/// <summary>The handshake's modular exponentiation gives exactly what <see cref="BigInteger.ModPow"/> gives.</summary>
public sealed class MontgomeryModulusTests
{
    // RFC 3526 group 14, the handshake's modulus.
    private static readonly BigInteger Group14 = BigInteger.Parse(
        "00FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DD" +
        "EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED" +
        "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F" +
        "83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B" +
        "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6955817183995497CEA956AE515D2261898FA0510" +
        "15728E5A8AACAA68FFFFFFFFFFFFFFFF", NumberStyles.HexNumber, CultureInfo.InvariantCulture);

    private static BigInteger Random(Random random, int bytes)
    {
        var data = new byte[bytes];
        random.NextBytes(data);
        return new BigInteger(data, isUnsigned: true, isBigEndian: true);
    }

    [Fact]
    public void Random_bases_and_exponents_modulo_group_14_match_BigInteger_ModPow()
    {
        var modulus = new MontgomeryModulus(Group14);
        var random = new Random(13);
        for (int i = 0; i < 40; i++)
        {
            var value = Random(random, 256) % Group14;
            var exponent = Random(random, 1 + random.Next(48));
            Assert.Equal(BigInteger.ModPow(value, exponent, Group14), modulus.Pow(value, exponent));
        }
    }

    [Fact]
    public void Edge_values_match_BigInteger_ModPow()
    {
        var modulus = new MontgomeryModulus(Group14);
        BigInteger[] values = [0, 1, 2, Group14 - 1, Group14 - 2, Group14, Group14 + 5, BigInteger.Pow(2, 2047)];
        BigInteger[] exponents = [0, 1, 2, 15, 16, 17, Group14 - 1, BigInteger.Pow(2, 320) + 1];
        foreach (var value in values)
            foreach (var exponent in exponents)
                Assert.Equal(BigInteger.ModPow(value, exponent, Group14), modulus.Pow(value, exponent));
    }

    [Fact]
    public void Small_and_one_limb_moduli_match_BigInteger_ModPow_including_results_that_need_the_final_subtraction()
    {
        var random = new Random(7);
        BigInteger[] moduli = [3, 0xFFFF_FFFF_FFFF_FFC5, BigInteger.Parse("340282366920938463463374607431768211297", CultureInfo.InvariantCulture), BigInteger.Pow(2, 127) + 1 + 2 * 12345];
        foreach (var m in moduli)
        {
            var modulus = new MontgomeryModulus(m);
            for (int i = 0; i < 200; i++)
            {
                var value = Random(random, 1 + random.Next(24));
                var exponent = Random(random, 1 + random.Next(20));
                Assert.Equal(BigInteger.ModPow(value, exponent, m), modulus.Pow(value, exponent));
            }
        }
    }

    [Fact]
    public void An_even_modulus_or_a_negative_argument_is_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new MontgomeryModulus(100));
        var modulus = new MontgomeryModulus(101);
        Assert.Throws<ArgumentOutOfRangeException>(() => modulus.Pow(-1, 3));
        Assert.Throws<ArgumentOutOfRangeException>(() => modulus.Pow(3, -1));
    }
}

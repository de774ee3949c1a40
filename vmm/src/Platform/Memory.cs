namespace Bmcast.Vmm.Platform;

internal static unsafe class Memory
{
    public static void Copy(byte* destination, byte* source, nuint length)
    {
        for (nuint i = 0; i < length; i++)
            destination[i] = source[i];
    }

    public static void Zero(byte* destination, nuint length)
    {
        for (nuint i = 0; i < length; i++)
            destination[i] = 0;
    }
}

namespace System
{
    public struct Boolean { }
    public struct Char { }
    public struct SByte { }
    public struct Byte { }
    public struct Int16 { }
    public struct UInt16 { }
    public struct Int32 { }
    public struct UInt32 { }
    public struct Int64 { }
    public struct UInt64 { }
    public struct Single { }
    public struct Double { }
    public unsafe struct IntPtr
    {
#pragma warning disable 169
        private void* _value;
#pragma warning restore 169
    }
    public unsafe struct UIntPtr
    {
#pragma warning disable 169
        private void* _value;
#pragma warning restore 169
    }
}

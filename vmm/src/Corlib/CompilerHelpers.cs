// Helpers ILC binds to by name. The hypervisor never throws, casts across
// interfaces or moves object references, so each one either does the simple
// thing or stops the machine: reaching one unexpectedly is a bug to see.
namespace Internal.Runtime.CompilerHelpers
{
    internal static class ThrowHelpers
    {
        private static void ThrowInvalidProgramException(int id) => Bmcast.Vmm.Platform.Panic.Halt("invalid program");
        private static void ThrowFeatureBodyRemoved() => Bmcast.Vmm.Platform.Panic.Halt("feature body removed");
        private static void ThrowOverflowException() => Bmcast.Vmm.Platform.Panic.Halt("overflow");
        private static void ThrowIndexOutOfRangeException() => Bmcast.Vmm.Platform.Panic.Halt("index out of range");
        private static void ThrowNullReferenceException() => Bmcast.Vmm.Platform.Panic.Halt("null reference");
        private static void ThrowDivideByZeroException() => Bmcast.Vmm.Platform.Panic.Halt("divide by zero");
    }

    // Statics with class constructors are avoided; ILC still wants the runner.
    internal static class StartupCodeHelpers { }
}

namespace System.Runtime.CompilerServices
{
    internal static class ClassConstructorRunner
    {
        private static unsafe void EnsureClassConstructorRun(void* context) { }
    }
}

namespace System.Runtime
{
    // Casting helpers: the hypervisor has no class hierarchy to cast through.
    internal static unsafe class TypeCast
    {
        private static object IsInstanceOfAny(void* type, object obj) => Fail();
        private static object IsInstanceOfInterface(void* type, object obj) => Fail();
        private static object IsInstanceOfClass(void* type, object obj) => Fail();
        private static object IsInstanceOfException(void* type, object obj) => Fail();
        private static object CheckCastAny(void* type, object obj) => Fail();
        private static object CheckCastInterface(void* type, object obj) => Fail();
        private static object CheckCastClass(void* type, object obj) => Fail();
        private static object CheckCastClassSpecial(void* type, object obj) => Fail();
        private static void StelemRef(object[] array, nint index, object obj) => Fail();
        private static ref object LdelemaRef(object[] array, nint index, void* elementType) { Fail(); return ref array[0]; }

        private static object Fail()
        {
            Bmcast.Vmm.Platform.Panic.Halt("type cast");
            return null;
        }
    }
}

namespace System.Runtime.InteropServices
{
    public interface IDynamicInterfaceCastable
    {
        static RuntimeTypeHandle GetDynamicInterfaceImplementation(object instance, RuntimeTypeHandle interfaceType) => default;
    }
}

namespace System
{
    internal static unsafe class Buffer
    {
        internal static void BulkMoveWithWriteBarrier(ref byte destination, ref byte source, nuint byteCount) =>
            Bmcast.Vmm.Platform.Panic.Halt("object move");
    }

    internal static unsafe class SpanHelpers
    {
        internal static void Memmove(ref byte destination, ref byte source, nuint len)
        {
            fixed (byte* d = &destination)
            fixed (byte* s = &source)
                Bmcast.Vmm.Platform.Memory.Copy(d, s, len);
        }

        internal static void Fill<T>(ref T refData, nuint numElements, T value) =>
            Bmcast.Vmm.Platform.Panic.Halt("fill");

        internal static void ClearWithoutReferences(ref byte b, nuint byteLength)
        {
            fixed (byte* p = &b)
                Bmcast.Vmm.Platform.Memory.Zero(p, byteLength);
        }
    }
}
